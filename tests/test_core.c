/* test_core.c: array core: creation, metadata, scopes and leaks, eval and
 * async eval, errors, dtype promotion and half conversions, views, memory
 * API and limits, the host allocator's bins, small-block and scratch caches,
 * threads. */
#include <pthread.h>
#include <stdint.h>

#include "core/core.h"
#include "harness.h"

static void test_from_data_and_read(void) {
  float d[6] = {1, 2, 3, 4, 5, 6};
  int shape[2] = {2, 3};
  mx_array *a = mx_array_from_data(d, shape, 2, MX_FLOAT32);
  MXT_OK(a);
  MXT_CHECK(mx_array_ndim(a) == 2 && mx_array_size(a) == 6, "meta");
  MXT_CHECK(mx_array_is_evaluated(a), "leaf is evaluated");
  double out[6];
  MXT_CHECK(mx_array_read(a, MX_FLOAT64, out, sizeof out) == MX_OK, "read");
  for (int i = 0; i < 6; i++) MXT_CHECK(out[i] == d[i], "value %d", i);
  /* destination too small */
  MXT_CHECK(mx_array_read(a, MX_FLOAT64, out, 8) == MX_ERR_INVALID, "cap");
  MXT_CHECK(strstr(mx_last_error(), "[read]") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  mx_array *s = mx_array_scalar_f64(2.5, MX_FLOAT16);
  MXT_CHECK(mx_array_ndim(s) == 0 && mx_array_item_f64(s) == 2.5, "scalar");
}

static void test_errors_propagate(void) {
  int shape[1] = {-1};
  mx_array *a = mx_zeros(shape, 1, MX_FLOAT32);
  MXT_CHECK(a == NULL, "negative dim rejected");
  MXT_CHECK(strstr(mx_last_error(), "negative") != NULL, "msg: %s", mx_last_error());
  /* NULL in, NULL out, first message kept */
  mx_array *b = mx_reshape(a, shape, 1);
  MXT_CHECK(b == NULL, "null propagates");
  MXT_CHECK(strstr(mx_last_error(), "negative") != NULL, "first msg kept");
  mx_clear_error();
  MXT_CHECK(mx_last_status() == MX_OK && mx_last_error()[0] == 0, "cleared");
}

static void test_promotion(void) {
  MXT_CHECK(mx_promote_types(MX_BFLOAT16, MX_FLOAT16) == MX_FLOAT32, "bf16+f16");
  MXT_CHECK(mx_promote_types(MX_INT32, MX_FLOAT16) == MX_FLOAT16, "i32+f16");
  MXT_CHECK(mx_promote_types(MX_UINT64, MX_INT8) == MX_FLOAT32, "u64+i8");
  MXT_CHECK(mx_promote_types(MX_UINT8, MX_INT8) == MX_INT16, "u8+i8");
  MXT_CHECK(mx_promote_types(MX_UINT32, MX_INT32) == MX_INT64, "u32+i32");
  MXT_CHECK(mx_promote_types(MX_BOOL, MX_BOOL) == MX_BOOL, "b+b");
  MXT_CHECK(mx_promote_types(MX_FLOAT32, MX_COMPLEX64) == MX_COMPLEX64, "c64");
  for (int a = 0; a < MX_NUM_DTYPES; a++)
    for (int b = 0; b < MX_NUM_DTYPES; b++)
      MXT_CHECK(mx_promote_types(a, b) == mx_promote_types(b, a), "symmetric %d %d", a,
                b);
}

static void test_half(void) {
  /* exhaustive round trip of every finite f16 through f32 */
  for (uint32_t h = 0; h < 65536; h++) {
    float f = mx_f16_to_f32((uint16_t)h);
    if (isnan(f)) continue;
    MXT_CHECK(mx_f32_to_f16(f) == h, "f16 roundtrip %04x", h);
    if (mx_f32_to_f16(f) != h) break;
  }
  for (uint32_t h = 0; h < 65536; h++) {
    float f = mx_bf16_to_f32((uint16_t)h);
    if (isnan(f)) continue;
    MXT_CHECK(mx_f32_to_bf16(f) == h, "bf16 roundtrip %04x", h);
    if (mx_f32_to_bf16(f) != h) break;
  }
  /* rounding: halfway cases go to even */
  MXT_CHECK(mx_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00, "tie to even down");
  MXT_CHECK(mx_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02, "tie to even up");
  MXT_CHECK(mx_f32_to_f16(65520.0f) == 0x7c00, "overflow to inf");
  MXT_CHECK(mx_f32_to_f16(65519.0f) == 0x7bff, "max half");
  MXT_CHECK(mx_f32_to_f16(5.96e-8f) == 0x0001, "smallest subnormal");
  MXT_CHECK(mx_f32_to_bf16(1.00390625f) == 0x3f80, "bf16 tie to even");
  MXT_CHECK(isnan(mx_bf16_to_f32(mx_f32_to_bf16(NAN))), "bf16 nan");
  MXT_CHECK(isnan(mx_f16_to_f32(mx_f32_to_f16(NAN))), "f16 nan");
  /* reading every f16 / bf16 pattern back as float32 (the vector conversion
   * path of contiguous reads), from offset 3 so the start is unaligned, and
   * from a strided view (the per-element path) */
  static uint16_t bits[65536 + 3];
  static float got[65536];
  for (int t = 0; t < 2; t++) {
    mx_dtype dt = t ? MX_BFLOAT16 : MX_FLOAT16;
    for (uint32_t h = 0; h < 65536; h++) bits[h + 3] = (uint16_t)h;
    int n = 65536 + 3;
    mx_array *a = mx_array_from_data(bits, &n, 1, dt);
    mx_array *c = mx_slice_axis(a, 0, 3, n, 1);
    MXT_CHECK(mx_array_read(c, MX_FLOAT32, got, sizeof got) == MX_OK, "read");
    bool ok = true;
    for (uint32_t h = 0; h < 65536 && ok; h++) {
      float want = t ? mx_bf16_to_f32((uint16_t)h) : mx_f16_to_f32((uint16_t)h);
      ok = isnan(want) ? isnan(got[h]) : memcmp(&want, &got[h], 4) == 0;
      MXT_CHECK(ok, "%s %04x -> float32", t ? "bf16" : "f16", h);
    }
    mx_array *sv = mx_slice_axis(a, 0, 3, n, 2); /* every other pattern */
    MXT_CHECK(mx_array_read(sv, MX_FLOAT32, got, sizeof got) == MX_OK, "strided read");
    for (uint32_t i = 0; i < 32768 && ok; i++) {
      uint16_t h = (uint16_t)(2 * i);
      float want = t ? mx_bf16_to_f32(h) : mx_f16_to_f32(h);
      ok = isnan(want) ? isnan(got[i]) : memcmp(&want, &got[i], 4) == 0;
      MXT_CHECK(ok, "strided %s %04x -> float32", t ? "bf16" : "f16", h);
    }
    mx_array *f = mx_astype(c, MX_FLOAT32);
    const float *fp = mx_array_data(f);
    for (uint32_t h = 0; fp && h < 65536 && ok; h++) {
      float want = t ? mx_bf16_to_f32((uint16_t)h) : mx_f16_to_f32((uint16_t)h);
      ok = isnan(want) ? isnan(fp[h]) : memcmp(&want, &fp[h], 4) == 0;
      MXT_CHECK(ok, "astype %s %04x -> float32", t ? "bf16" : "f16", h);
    }
  }
}

static void test_views(void) {
  float d[24];
  for (int i = 0; i < 24; i++) d[i] = (float)i;
  int shape[3] = {2, 3, 4};
  mx_array *a = mx_array_from_data(d, shape, 3, MX_FLOAT32);
  int perm[3] = {2, 0, 1};
  mx_array *t = mx_transpose(a, perm, 3);
  MXT_OK(t);
  double ref[24];
  /* t[i,j,k] = a[j,k,i] */
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 2; j++)
      for (int k = 0; k < 3; k++) ref[(i * 2 + j) * 3 + k] = d[(j * 3 + k) * 4 + i];
  mxt_close(t, ref, 24, 0, 0, "transpose");
  MXT_CHECK(!mx_array_is_contiguous(t), "transpose is a view");
  MXT_CHECK(mx_array_data(t) == mx_array_data(a), "shares buffer");
  /* reshape of a transposed view copies; values follow row-major order */
  int s2[2] = {4, 6};
  mx_array *r = mx_reshape(t, s2, 2);
  mxt_close(r, ref, 24, 0, 0, "reshape of transpose");
  /* slices with negative step */
  int st[3] = {MX_SLICE_DEFAULT, 2, -1}, sp[3] = {MX_SLICE_DEFAULT, 0, 0},
      stp[3] = {1, -1, -2};
  mx_array *sl = mx_slice(a, st, sp, stp);
  MXT_OK(sl);
  MXT_CHECK(mx_array_shape(sl)[1] == 2 && mx_array_shape(sl)[2] == 2, "slice shape %s",
            "");
  double sref[8];
  int q = 0;
  for (int i = 0; i < 2; i++)
    for (int j = 2; j > 0; j--)
      for (int k = 3; k > 0; k -= 2) sref[q++] = d[(i * 3 + j) * 4 + k];
  mxt_close(sl, sref, 8, 0, 0, "slice negative step");
  /* broadcast */
  int bs[3] = {5, 2, 3};
  int s23[2] = {2, 3};
  mx_array *b = mx_broadcast_to(mx_reshape(mx_slice_axis(a, 2, 0, 1, 1), s23, 2), bs, 3);
  double bref[30];
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 6; j++) bref[i * 6 + j] = d[j * 4];
  mxt_close(b, bref, 30, 0, 0, "broadcast");
  MXT_CHECK(mx_broadcast_to(a, s2, 2) == NULL, "bad broadcast rejected");
  mx_clear_error();
  /* squeeze/expand/moveaxis */
  int ax0 = 0;
  mx_array *e = mx_expand_dims(a, &ax0, 1);
  MXT_CHECK(mx_array_ndim(e) == 4 && mx_array_shape(e)[0] == 1, "expand_dims");
  mx_array *sq = mx_squeeze(e, NULL, 0);
  MXT_CHECK(mx_array_ndim(sq) == 3, "squeeze");
  mx_array *mv = mx_moveaxis(a, 0, 2);
  MXT_CHECK(mx_array_shape(mv)[0] == 3 && mx_array_shape(mv)[2] == 2, "moveaxis");
  int ushape[2] = {2, -1};
  mx_array *uf = mx_unflatten(a, 2, ushape, 2);
  MXT_CHECK(uf && mx_array_ndim(uf) == 4 && mx_array_shape(uf)[3] == 2, "unflatten");
  mx_array *fl = mx_flatten(a, 0, -1);
  MXT_CHECK(fl && mx_array_size(fl) == 24 && mx_array_ndim(fl) == 1, "flatten");
  /* as_strided: sliding windows of 3 over 24 with step 4 */
  int ws[2] = {5, 3};
  int64_t wst[2] = {4, 1};
  mx_array *w = mx_as_strided(a, ws, wst, 2, 1);
  double wref[15];
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 3; j++) wref[i * 3 + j] = 1 + 4 * i + j;
  mxt_close(w, wref, 15, 0, 0, "as_strided");
  int64_t bad[2] = {10, 1};
  MXT_CHECK(mx_as_strided(a, ws, bad, 2, 0) == NULL, "as_strided out of bounds");
  mx_clear_error();
}

static void test_astype_all_dtypes(void) {
  double vals[8] = {0, 1, -1, 2.5, -3.75, 100, 0.125, 7};
  int shape[1] = {8};
  mx_array *a = mx_array_from_data(vals, shape, 1, MX_FLOAT64);
  for (int t = 0; t < MX_NUM_DTYPES; t++) {
    mx_array *c = mx_astype(a, (mx_dtype)t);
    double ref[8];
    for (int i = 0; i < 8; i++) {
      double v = vals[i];
      switch (t) {
        case MX_BOOL:
          v = v != 0;
          break;
        case MX_UINT8:
          v = (double)(uint8_t)(int64_t)v;
          break;
        case MX_UINT16:
          v = (double)(uint16_t)(int64_t)v;
          break;
        case MX_UINT32:
          v = (double)(uint32_t)(int64_t)v;
          break;
        case MX_UINT64:
          v = v < 0 ? 0 : (double)(uint64_t)v;
          break;
        case MX_INT8:
        case MX_INT16:
        case MX_INT32:
        case MX_INT64:
          v = trunc(v);
          break;
        default:
          break;
      }
      ref[i] = v;
    }
    if (t == MX_UINT64)
      ref[2] = (double)(uint64_t)(int64_t)-1, ref[4] = (double)(uint64_t)(int64_t)-3;
    mxt_close(c, ref, 8, 0, 0, mx_dtype_name((mx_dtype)t));
    /* and back from each dtype to float32 */
    mxt_close(mx_astype(c, MX_FLOAT32), ref, 8, 1e-7, 0, "back to f32");
  }
}

static void test_scopes_and_keep(void) {
  int64_t live = mx_live_arrays();
  mx_array *kept;
  mx_scope_begin();
  float d[4] = {1, 2, 3, 4};
  int s[1] = {4};
  mx_array *a = mx_array_from_data(d, s, 1, MX_FLOAT32);
  mx_array *b = mx_astype(a, MX_FLOAT64);
  kept = mx_keep(b);
  (void)mx_astype(b, MX_INT32); /* dropped at scope end, never evaluated */
  mx_scope_end();
  MXT_CHECK(mx_live_arrays() == live + 2, "kept b (and its input a) alive: %lld",
            (long long)(mx_live_arrays() - live));
  MXT_CHECK(mx_array_item_f64(mx_slice_axis(kept, 0, 3, 4, 1)) == 4, "kept value");
  mx_free(kept);
  /* after free, everything it held is gone except what the test scope holds */
  mx_scope_begin();
  mx_scope_end();
}

static void test_deep_graph(void) {
  /* 100k chained ops: release and eval must not recurse per node */
  mx_scope_begin();
  float v = 1;
  mx_array *a = mx_array_from_data(&v, NULL, 0, MX_FLOAT32);
  mx_array *x = mx_keep(a);
  mx_scope_end();
  for (int i = 0; i < 100000; i++) {
    mx_scope_begin();
    mx_array *y = mx_keep(mx_astype(x, (i & 1) ? MX_FLOAT32 : MX_FLOAT64));
    mx_scope_end();
    mx_free(x);
    x = y;
  }
  MXT_CHECK(mx_eval1(x) == MX_OK, "deep eval");
  MXT_CHECK(mx_array_item_f64(x) == 1.0, "deep value");
  mx_free(x);
  mx_scope_begin();
  x = mx_keep(mx_array_from_data(&v, NULL, 0, MX_FLOAT32));
  mx_scope_end();
  for (int i = 0; i < 100000; i++) {
    mx_scope_begin();
    mx_array *y = mx_keep(mx_astype(x, (i & 1) ? MX_FLOAT32 : MX_FLOAT64));
    mx_scope_end();
    mx_free(x);
    x = y;
  }
  mx_free(x); /* dropped unevaluated */
}

static void test_async_eval(void) {
  int s[1] = {1 << 16};
  mx_array *a = mxt_rand(s, 1, MX_FLOAT32, -1, 1);
  mx_array *b = mx_astype(a, MX_FLOAT64);
  mx_array *c = mx_astype(b, MX_FLOAT16);
  MXT_CHECK(mx_async_eval(&c, 1) == MX_OK, "async eval");
  mx_array *d = mx_astype(c, MX_FLOAT32); /* built while c may be running */
  MXT_CHECK(mx_eval1(d) == MX_OK, "eval after async");
  MXT_CHECK(mx_array_is_evaluated(c), "c done");
  double *x = mxt_to_f64(a), *y = mxt_to_f64(d);
  bool ok = true;
  for (int i = 0; i < s[0]; i++) ok &= fabs(x[i] - y[i]) <= 1e-3 * fabs(x[i]) + 1e-7;
  MXT_CHECK(ok, "async values");
  free(x);
  free(y);
}

typedef struct {
  int id;
  bool ok;
} thread_arg;

static void *thread_body(void *p) {
  thread_arg *t = p;
  mx_scope_begin();
  t->ok = true;
  for (int it = 0; it < 50; it++) {
    int s[2] = {64, 33};
    double base = t->id * 1000 + it;
    mx_array *a = mx_full(s, 2, base, MX_FLOAT64);
    mx_array *b = mx_transpose(mx_astype(a, MX_FLOAT32), NULL, 0);
    mx_array *c = mx_contiguous(b);
    if (mx_eval1(c) != MX_OK) t->ok = false;
    const float *p2 = mx_array_data(c);
    if (!p2 || p2[100] != (float)base) t->ok = false;
  }
  mx_scope_end();
  return NULL;
}

static void test_threads(void) {
  pthread_t th[4];
  thread_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (thread_arg){i, false};
    pthread_create(&th[i], NULL, thread_body, &args[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    MXT_CHECK(args[i].ok, "thread %d", i);
  }
}

static void test_memory_api(void) {
  mx_clear_cache();
  size_t active0 = mx_get_active_memory();
  mx_reset_peak_memory();
  int s[1] = {1 << 20};
  mx_scope_begin();
  mx_array *a = mx_copy(mx_zeros(s, 1, MX_FLOAT32));
  mx_eval1(a);
  MXT_CHECK(mx_get_active_memory() >= active0 + (4u << 20), "active grows");
  MXT_CHECK(mx_get_peak_memory() >= active0 + (4u << 20), "peak grows");
  mx_scope_end();
  MXT_CHECK(mx_get_active_memory() == active0, "active back: %zu vs %zu",
            mx_get_active_memory(), active0);
  MXT_CHECK(mx_get_cache_memory() >= (4u << 20), "freed buffer cached");
  /* reuse from the cache: active grows again, cache shrinks */
  mx_scope_begin();
  mx_array *b = mx_copy(mx_zeros(s, 1, MX_FLOAT32));
  mx_eval1(b);
  MXT_CHECK(mx_get_cache_memory() < (4u << 20), "cache reused");
  mx_scope_end();
  mx_clear_cache();
  MXT_CHECK(mx_get_cache_memory() == 0, "clear cache");
  /* cache limit 0: nothing is kept */
  size_t old_cache = mx_set_cache_limit(0);
  mx_scope_begin();
  mx_eval1(mx_copy(mx_zeros(s, 1, MX_FLOAT32)));
  mx_scope_end();
  MXT_CHECK(mx_get_cache_memory() == 0, "cache limit respected");
  mx_set_cache_limit(old_cache);
  /* memory limit: a 64 MiB request over a 16 MiB limit fails cleanly */
  size_t old = mx_set_memory_limit(active0 + (16u << 20));
  MXT_CHECK(mx_get_memory_limit() == active0 + (16u << 20), "limit set");
  int big[1] = {16 << 20};
  mx_scope_begin();
  mx_array *c = mx_copy(mx_zeros(big, 1, MX_FLOAT32));
  mx_status st = mx_eval1(c);
  MXT_CHECK(st == MX_ERR_NOMEM, "limit exceeded -> NOMEM (%d)", st);
  MXT_CHECK(strstr(mx_last_error(), "memory limit") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
  mx_scope_end();
  mx_set_memory_limit(old);
  mx_scope_begin();
  MXT_CHECK(mx_eval1(mx_copy(mx_zeros(big, 1, MX_FLOAT32))) == MX_OK,
            "works after limit raised");
  mx_scope_end();
}

/* Host allocator: a freed block is reused for requests between half its
 * capacity and its capacity, the smallest fitting capacity first, the most
 * recently freed block of a capacity first. */
static void test_allocator_bins(void) {
  mx_clear_cache();
  mx_allocator *al = mx_allocator_host();
  size_t c8, c16, c64, c16b, got;
  void *p8 = mx_allocator_alloc(al, 8192, &c8);
  void *p16 = mx_allocator_alloc(al, 16384, &c16);
  void *p16b = mx_allocator_alloc(al, 16000, &c16b);
  void *p64 = mx_allocator_alloc(al, 65536, &c64);
  MXT_CHECK(p8 && p16 && p16b && p64, "allocated");
  MXT_CHECK(c8 == 8192 && c16 == 16384 && c16b == 16384 && c64 == 65536, "caps");
  MXT_CHECK(((uintptr_t)p8 & 63) == 0 && ((uintptr_t)p64 & 63) == 0, "aligned");
  mx_allocator_free(al, p64, c64);
  mx_allocator_free(al, p8, c8);
  mx_allocator_free(al, p16, c16);
  mx_allocator_free(al, p16b, c16b);
  MXT_CHECK(mx_get_cache_memory() == 8192 + 2 * 16384 + 65536, "all cached");
  /* 12000 -> a 16 KiB block, the one freed last */
  void *q = mx_allocator_alloc(al, 12000, &got);
  MXT_CHECK(q == p16b && got == 16384, "smallest fitting, last freed (%zu)", got);
  void *q2 = mx_allocator_alloc(al, 12000, &got);
  MXT_CHECK(q2 == p16 && got == 16384, "then the other one");
  /* 40000 -> the 64 KiB block (within 2x); 20000 -> nothing cached fits:
   * 64 KiB is gone and 8 KiB is too small */
  void *q3 = mx_allocator_alloc(al, 40000, &got);
  MXT_CHECK(q3 == p64 && got == 65536, "64 KiB for 40000");
  void *q4 = mx_allocator_alloc(al, 20000, &got);
  MXT_CHECK(q4 && q4 != p8 && got == 20480, "fresh block (%zu)", got);
  /* 3000 -> a 3008-byte block: the 8 KiB one is more than twice that */
  void *q5 = mx_allocator_alloc(al, 3000, &got);
  MXT_CHECK(q5 != p8 && got == 3008, "2x rule (%zu)", got);
  /* 5000 -> the 8 KiB block */
  void *q6 = mx_allocator_alloc(al, 5000, &got);
  MXT_CHECK(q6 == p8 && got == 8192, "8 KiB for 5000");
  mx_allocator_free(al, q, 16384);
  mx_allocator_free(al, q2, 16384);
  mx_allocator_free(al, q3, 65536);
  mx_allocator_free(al, q4, 20480);
  mx_allocator_free(al, q5, 3008);
  mx_allocator_free(al, q6, 8192);
  mx_clear_cache();
  MXT_CHECK(mx_get_cache_memory() == 0, "cleared");
}

typedef struct {
  void *blocks[64];
  int n;
  bool ok;
} small_arg;

/* frees blocks made on another thread, makes its own, and exits (its cache
 * is freed by the thread-exit destructor) */
static void *small_thread(void *arg) {
  small_arg *a = arg;
  for (int i = 0; i < a->n; i++) mx_small_free(a->blocks[i], (size_t)(i * 9 + 1));
  a->ok = true;
  for (int i = 0; i < a->n; i++) {
    unsigned char *p = mx_small_alloc((size_t)(i * 9 + 1));
    for (int j = 0; j < i * 9 + 1; j++) a->ok &= p[j] == 0;
    memset(p, 0xab, (size_t)(i * 9 + 1));
    mx_small_free(p, (size_t)(i * 9 + 1));
  }
  float *s = mx_thread_scratch(MX_SCRATCH_SDPA, 1000);
  a->ok &= s != NULL;
  if (s) s[999] = 1;
  return NULL;
}

/* Small blocks come back zeroed whatever was written before, for every size
 * (cached classes and the malloc fallback above them); blocks may be freed on
 * another thread. The scratch buffer is kept and grows. */
static void test_small_blocks_and_scratch(void) {
  for (int round = 0; round < 3; round++)
    for (size_t n = 1; n <= 700; n += 7) {
      unsigned char *p = mx_small_alloc(n);
      MXT_CHECK(p != NULL, "alloc %zu", n);
      bool zero = true;
      for (size_t j = 0; j < n; j++) zero &= p[j] == 0;
      MXT_CHECK(zero, "zeroed %zu (round %d)", n, round);
      MXT_CHECK(((uintptr_t)p & 15) == 0, "16-aligned %zu", n);
      memset(p, 0xcd, n);
      mx_small_free(p, n);
    }
  small_arg a = {.n = 64};
  for (int i = 0; i < a.n; i++) {
    a.blocks[i] = mx_small_alloc((size_t)(i * 9 + 1));
    memset(a.blocks[i], 0x5a, (size_t)(i * 9 + 1));
  }
  pthread_t t;
  MXT_CHECK(pthread_create(&t, NULL, small_thread, &a) == 0, "thread");
  pthread_join(t, NULL);
  MXT_CHECK(a.ok, "blocks freed and reused on another thread");
  float *s1 = mx_thread_scratch(MX_SCRATCH_SDPA, 100);
  MXT_CHECK(s1 && ((uintptr_t)s1 & 63) == 0, "scratch aligned");
  s1[99] = 3;
  float *s2 = mx_thread_scratch(MX_SCRATCH_SDPA, 64);
  MXT_CHECK(s2 == s1 && s2[99] == 3, "scratch kept for a smaller request");
  float *s3 = mx_thread_scratch(MX_SCRATCH_SDPA, 1 << 20);
  MXT_CHECK(s3 != NULL, "scratch grows");
  s3[(1 << 20) / sizeof(float) - 1] = 1;
  MXT_CHECK(mx_thread_scratch(MX_SCRATCH_COUNT, 8) == NULL, "bad slot");
}

static void test_print(void) {
  int32_t d[4] = {1, -2, 3, 4};
  int s[2] = {2, 2};
  char buf[128];
  mx_array_format(mx_array_from_data(d, s, 2, MX_INT32), buf, sizeof buf);
  MXT_CHECK(strcmp(buf, "array([[1, -2], [3, 4]], dtype=int32)") == 0, "got %s", buf);
}

static void test_view_dtype(void) {
  float f[2] = {1.0f, -2.0f};
  int s[1] = {2};
  mx_array *a = mx_array_from_data(f, s, 1, MX_FLOAT32);
  mx_array *u = mx_view(a, MX_UINT16);
  MXT_CHECK(u && mx_array_shape(u)[0] == 4, "view shape");
  double ref[4] = {0, 0x3f80, 0, 0xc000};
  mxt_close(u, ref, 4, 0, 0, "view values");
  MXT_CHECK(mx_view(mx_array_scalar_f64(1, MX_FLOAT32), MX_UINT16) == NULL, "0-d view");
  mx_clear_error();
}

int main(void) {
  MXT_RUN(test_from_data_and_read);
  MXT_RUN(test_errors_propagate);
  MXT_RUN(test_promotion);
  MXT_RUN(test_half);
  MXT_RUN(test_views);
  MXT_RUN(test_astype_all_dtypes);
  MXT_RUN(test_scopes_and_keep);
  MXT_RUN(test_deep_graph);
  MXT_RUN(test_async_eval);
  MXT_RUN(test_threads);
  MXT_RUN(test_memory_api);
  MXT_RUN(test_allocator_bins);
  MXT_RUN(test_small_blocks_and_scratch);
  MXT_RUN(test_print);
  MXT_RUN(test_view_dtype);
  return mxt_finish();
}
