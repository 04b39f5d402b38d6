/* test_matmul.c: matmul, addmm, outer, inner, tensordot against float64
 * triple loops written here (numpy's matmul rules: 1-D promotion, batch
 * broadcasting): every float dtype, transposed/sliced/broadcast layouts,
 * empty and K = 0 cases, and the error paths; float32/float64 products
 * both with OpenBLAS threaded and split over mx's pool (mx_blas_on_pool). */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>

#include "harness.h"

#include "backend/cpu/linalg_simd.h"
#include "backend/cpu/qsimd.h"

/* ---- reference ---- */

typedef struct {
  int shape[MX_MAX_NDIM];
  int ndim;
  double *v; /* row-major */
} ref_t;

static int64_t prod(const int *s, int n) {
  int64_t p = 1;
  for (int i = 0; i < n; i++) p *= s[i];
  return p;
}

/* numpy matmul of a and b in float64; alpha*(a@b) + beta*c when c != NULL. */
static ref_t ref_addmm(mx_array *c, mx_array *a, mx_array *b, double alpha, double beta) {
  ref_t r = {{0}, 0, NULL};
  int as[MX_MAX_NDIM], bs[MX_MAX_NDIM], na = mx_array_ndim(a), nb = mx_array_ndim(b);
  memcpy(as, mx_array_shape(a), sizeof(int) * (size_t)na);
  memcpy(bs, mx_array_shape(b), sizeof(int) * (size_t)nb);
  bool a1 = na == 1, b1 = nb == 1;
  if (a1) {
    as[1] = as[0];
    as[0] = 1;
    na = 2;
  }
  if (b1) {
    bs[1] = 1;
    nb = 2;
  }
  int M = as[na - 2], K = as[na - 1], N = bs[nb - 1];
  int nbd = (na > nb ? na : nb) - 2;
  int bsh[MX_MAX_NDIM];
  for (int d = 0; d < nbd; d++) {
    int da = d - (nbd - (na - 2)), db = d - (nbd - (nb - 2));
    int sa = da < 0 ? 1 : as[da], sb = db < 0 ? 1 : bs[db];
    bsh[d] = sa == 1 ? sb : sa;
  }
  double *A = mxt_to_f64(a), *B = mxt_to_f64(b);
  int64_t nbatch = prod(bsh, nbd);
  double *out = calloc((size_t)(nbatch * M * N + 1), sizeof(double));
  for (int64_t bi = 0; bi < nbatch; bi++) {
    /* batch offsets of a and b */
    int64_t ao = 0, bo = 0, rem = bi, amul = (int64_t)M * K, bmul = (int64_t)K * N;
    for (int d = nbd - 1; d >= 0; d--) {
      int q = (int)(rem % bsh[d]);
      rem /= bsh[d];
      int da = d - (nbd - (na - 2)), db = d - (nbd - (nb - 2));
      if (da >= 0) {
        if (as[da] != 1) ao += q * amul;
        amul *= as[da];
      }
      if (db >= 0) {
        if (bs[db] != 1) bo += q * bmul;
        bmul *= bs[db];
      }
    }
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        double s = 0;
        for (int k = 0; k < K; k++)
          s += A[ao + (int64_t)i * K + k] * B[bo + (int64_t)k * N + j];
        out[(bi * M + i) * N + j] = alpha * s;
      }
  }
  for (int d = 0; d < nbd; d++) r.shape[r.ndim++] = bsh[d];
  if (!a1) r.shape[r.ndim++] = M;
  if (!b1) r.shape[r.ndim++] = N;
  if (c) {
    /* c broadcast to the result shape */
    double *C = mxt_to_f64(c);
    int nc = mx_array_ndim(c);
    const int *cs = mx_array_shape(c);
    int64_t n = prod(r.shape, r.ndim);
    for (int64_t i = 0; i < n; i++) {
      int64_t rem = i, co = 0, mul = 1;
      for (int d = r.ndim - 1; d >= 0; d--) {
        int q = (int)(rem % r.shape[d]);
        rem /= r.shape[d];
        int dc = d - (r.ndim - nc);
        if (dc >= 0) {
          if (cs[dc] != 1) co += q * mul;
          mul *= cs[dc];
        }
      }
      out[i] += beta * C[co];
    }
    free(C);
  }
  free(A);
  free(B);
  r.v = out;
  return r;
}

static bool same_shape(mx_array *x, const ref_t *r, const char *what) {
  bool ok = x && mx_array_ndim(x) == r->ndim &&
            memcmp(mx_array_shape(x), r->shape, sizeof(int) * (size_t)r->ndim) == 0;
  MXT_CHECK(ok, "%s: shape %s", what, x ? "mismatch" : mx_last_error());
  return ok;
}

/* Tolerances for a result of dtype t with contraction length K (values in
 * [-1, 1)). Half results are rounded once from a float32 accumulator. */
static void tol_for(mx_dtype t, int K, double *rtol, double *atol) {
  double k = K > 0 ? K : 1;
  switch (t) {
    case MX_FLOAT64:
      *rtol = 1e-12;
      *atol = 1e-12 * k;
      break;
    case MX_FLOAT32:
      *rtol = 1e-5;
      *atol = 2e-6 * k;
      break;
    case MX_FLOAT16:
      *rtol = 1.5e-3;
      *atol = 2e-6 * k + 1e-4;
      break;
    default:
      *rtol = 1e-2;
      *atol = 2e-6 * k + 1e-3;
      break; /* bfloat16 */
  }
}

static void check_mm(mx_array *a, mx_array *b, const char *what) {
  mx_array *r = mx_matmul(a, b);
  MXT_OK(r);
  if (!r) return;
  ref_t ref = ref_addmm(NULL, a, b, 1, 0);
  int K = mx_array_shape(a)[mx_array_ndim(a) - 1];
  double rtol, atol;
  tol_for(mx_array_dtype(r), K, &rtol, &atol);
  if (same_shape(r, &ref, what))
    mxt_close(r, ref.v, prod(ref.shape, ref.ndim), rtol, atol, what);
  free(ref.v);
}

static mx_array *rnd(mx_dtype t, int ndim, ...) {
  int s[MX_MAX_NDIM];
  va_list ap;
  va_start(ap, ndim);
  for (int i = 0; i < ndim; i++) s[i] = va_arg(ap, int);
  va_end(ap);
  return mxt_rand(s, ndim, t, -1, 1);
}

/* ---- cases ---- */

static void test_shapes(void) {
  const mx_dtype t = MX_FLOAT32;
  check_mm(rnd(t, 2, 3, 4), rnd(t, 2, 4, 5), "3x4 @ 4x5");
  check_mm(rnd(t, 2, 1, 1), rnd(t, 2, 1, 1), "1x1 @ 1x1");
  check_mm(rnd(t, 2, 7, 1), rnd(t, 2, 1, 9), "K = 1");
  check_mm(rnd(t, 2, 64, 33), rnd(t, 2, 33, 65), "64x33 @ 33x65");
  check_mm(rnd(t, 2, 5, 6), rnd(t, 1, 6), "matvec");
  check_mm(rnd(t, 1, 6), rnd(t, 2, 6, 5), "vecmat");
  check_mm(rnd(t, 1, 6), rnd(t, 1, 6), "vec . vec");
  check_mm(rnd(t, 3, 2, 3, 4), rnd(t, 1, 4), "batched matvec");
  check_mm(rnd(t, 1, 4), rnd(t, 3, 2, 4, 3), "vec @ batched");
  check_mm(rnd(t, 2, 1, 300), rnd(t, 2, 300, 1), "row @ column");
  mx_array *v = mx_matmul(rnd(t, 1, 6), rnd(t, 1, 6));
  MXT_CHECK(v && mx_array_ndim(v) == 0, "vec . vec is 0-d");
}

static void test_batch_broadcast(void) {
  const mx_dtype t = MX_FLOAT32;
  check_mm(rnd(t, 4, 2, 1, 3, 4), rnd(t, 3, 5, 4, 6), "(2,1,3,4) @ (5,4,6)");
  check_mm(rnd(t, 2, 3, 4), rnd(t, 3, 2, 4, 5), "(3,4) @ (2,4,5)");
  check_mm(rnd(t, 3, 2, 3, 4), rnd(t, 2, 4, 5), "(2,3,4) @ (4,5) folded");
  check_mm(rnd(t, 3, 1, 3, 4), rnd(t, 3, 2, 4, 5), "(1,3,4) @ (2,4,5)");
  check_mm(rnd(t, 4, 3, 1, 2, 4), rnd(t, 4, 1, 4, 4, 2), "(3,1,2,4) @ (1,4,4,2)");
  check_mm(rnd(t, 3, 2, 1, 4), rnd(t, 3, 2, 4, 5), "M = 1 batched");
  /* many small products: the pool path */
  check_mm(rnd(t, 3, 64, 8, 16), rnd(t, 3, 64, 16, 8), "64 small batches");
  check_mm(rnd(t, 3, 2, 100, 100), rnd(t, 3, 2, 100, 100), "2 large batches");
  /* b broadcast along the batch with a folded */
  check_mm(rnd(t, 4, 2, 3, 5, 4), rnd(t, 3, 1, 4, 6), "(2,3,5,4) @ (1,4,6)");
  /* incompatible batch dims */
  MXT_CHECK(mx_matmul(rnd(t, 3, 2, 3, 4), rnd(t, 3, 3, 4, 5)) == NULL, "batch 2 vs 3");
  MXT_CHECK(strstr(mx_last_error(), "[matmul]") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
}

static void test_layouts(void) {
  const mx_dtype t = MX_FLOAT32;
  /* transposed views: passed to BLAS as CblasTrans, no copy */
  mx_array *at = mx_transpose(rnd(t, 2, 7, 5), NULL, 0); /* (5,7) col-major */
  mx_array *bt = mx_transpose(rnd(t, 2, 9, 7), NULL, 0); /* (7,9) col-major */
  check_mm(at, rnd(t, 2, 7, 9), "a.T @ b");
  check_mm(rnd(t, 2, 5, 7), bt, "a @ b.T");
  check_mm(at, bt, "a.T @ b.T");
  check_mm(mxt_noncontig(rnd(t, 3, 3, 6, 4)), mxt_noncontig(rnd(t, 3, 3, 4, 5)),
           "noncontig");
  /* steps on both axes: packed */
  int st[2] = {1, 0}, sp[2] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT}, stp[2] = {2, 3};
  mx_array *as = mx_slice(rnd(t, 2, 13, 20), st, sp, stp); /* (6,7) */
  check_mm(as, rnd(t, 2, 7, 4), "stepped a");
  check_mm(rnd(t, 2, 3, 6), as, "stepped b");
  /* row slice with a unit column stride: in place with lda > cols */
  mx_array *rs = mx_slice_axis(rnd(t, 2, 6, 10), 1, 2, 9, 1); /* (6,7) lda 10 */
  check_mm(rs, rnd(t, 2, 7, 3), "column slice");
  check_mm(rnd(t, 1, 6), rs, "vec @ sliced");
  /* negative steps */
  int nst[2] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT},
      nsp[2] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT}, nstp[2] = {-1, -1};
  mx_array *neg = mx_slice(rnd(t, 2, 5, 6), nst, nsp, nstp);
  check_mm(neg, rnd(t, 2, 6, 4), "reversed a");
  check_mm(rnd(t, 2, 3, 5), neg, "reversed b");
  check_mm(mx_slice_axis(rnd(t, 1, 8), 0, MX_SLICE_DEFAULT, MX_SLICE_DEFAULT, -1),
           rnd(t, 2, 8, 3), "reversed vector");
  check_mm(rnd(t, 2, 3, 4),
           mx_slice_axis(rnd(t, 1, 8), 0, MX_SLICE_DEFAULT, MX_SLICE_DEFAULT, -2),
           "stepped reversed vector");
  /* broadcast (stride 0) operands */
  int bs[2] = {6, 5};
  mx_array *row = mx_broadcast_to(rnd(t, 1, 5), bs, 2); /* every row equal */
  check_mm(row, rnd(t, 2, 5, 3), "broadcast rows");
  int cs[2] = {5, 4};
  mx_array *col = mx_broadcast_to(rnd(t, 2, 5, 1), cs, 2);
  check_mm(rnd(t, 2, 2, 5), col, "broadcast columns");
  int b3[3] = {3, 4, 5};
  check_mm(mx_broadcast_to(rnd(t, 2, 4, 5), b3, 3), rnd(t, 3, 3, 5, 2),
           "broadcast batch");
  /* batched transposed views */
  int perm[3] = {0, 2, 1};
  check_mm(mx_transpose(rnd(t, 3, 4, 6, 5), perm, 3),
           mx_transpose(rnd(t, 3, 4, 3, 6), perm, 3), "batched transposes");
  /* transposed matrix @ vector (gemv with Trans) and vector @ transposed */
  check_mm(mx_transpose(rnd(t, 2, 40, 30), NULL, 0), rnd(t, 1, 40), "A.T @ x");
  check_mm(rnd(t, 1, 30), mx_transpose(rnd(t, 2, 20, 30), NULL, 0), "x @ B.T");
  check_mm(rnd(t, 2, 1, 30), mx_transpose(rnd(t, 2, 1, 30), NULL, 0), "row @ row.T");
}

static void test_dtypes(void) {
  const mx_dtype ts[4] = {MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
  for (int i = 0; i < 4; i++) {
    mx_dtype t = ts[i];
    check_mm(rnd(t, 2, 9, 17), rnd(t, 2, 17, 11), mx_dtype_name(t));
    check_mm(rnd(t, 3, 3, 9, 17), rnd(t, 2, 17, 11), mx_dtype_name(t));
    check_mm(rnd(t, 3, 5, 4, 8), rnd(t, 3, 5, 8, 3), mx_dtype_name(t));
    check_mm(rnd(t, 2, 9, 17), rnd(t, 1, 17), mx_dtype_name(t));
    check_mm(rnd(t, 1, 17), rnd(t, 2, 17, 6), mx_dtype_name(t));
    check_mm(mx_transpose(rnd(t, 2, 17, 9), NULL, 0),
             mx_transpose(rnd(t, 2, 11, 17), NULL, 0), mx_dtype_name(t));
    mx_array *r = mx_matmul(rnd(t, 2, 2, 2), rnd(t, 2, 2, 2));
    MXT_CHECK(r && mx_array_dtype(r) == t, "%s keeps dtype", mx_dtype_name(t));
  }
  /* promotion */
  struct {
    mx_dtype a, b, out;
  } pr[] = {{MX_FLOAT16, MX_FLOAT32, MX_FLOAT32},
            {MX_BFLOAT16, MX_FLOAT16, MX_FLOAT32},
            {MX_INT32, MX_FLOAT32, MX_FLOAT32},
            {MX_INT8, MX_BFLOAT16, MX_BFLOAT16},
            {MX_FLOAT32, MX_FLOAT64, MX_FLOAT64}};
  for (size_t i = 0; i < sizeof pr / sizeof pr[0]; i++) {
    mx_array *a = mxt_rand((int[]){4, 5}, 2, pr[i].a, -3, 3);
    mx_array *b = mxt_rand((int[]){5, 3}, 2, pr[i].b, -3, 3);
    mx_array *r = mx_matmul(a, b);
    MXT_OK(r);
    MXT_CHECK(r && mx_array_dtype(r) == pr[i].out, "promote %s %s",
              mx_dtype_name(pr[i].a), mx_dtype_name(pr[i].b));
    check_mm(a, b, "promoted");
  }
  /* large K with half inputs: packing in K blocks (M + N) * K > 4M */
  mx_array *a = rnd(MX_BFLOAT16, 2, 200, 12000), *b = rnd(MX_BFLOAT16, 2, 12000, 150);
  check_mm(a, b, "bf16 K blocks");
  /* float32 with a layout BLAS cannot read and a large K */
  int st[2] = {0, 0}, sp[2] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT}, stp[2] = {2, 2};
  check_mm(mx_slice(rnd(MX_FLOAT32, 2, 40, 24000), st, sp, stp),
           rnd(MX_FLOAT32, 2, 12000, 30), "f32 stepped large K");
}

static void test_special_values(void) {
  float ad[6] = {1, NAN, 2, 3, INFINITY, 4}; /* (2,3) */
  float bd[6] = {1, 0, 0, 1, 1, 1};          /* (3,2) */
  mx_array *a = mx_array_from_data(ad, (int[]){2, 3}, 2, MX_FLOAT32);
  mx_array *b = mx_array_from_data(bd, (int[]){3, 2}, 2, MX_FLOAT32);
  mx_array *r = mx_matmul(a, b);
  /* row 0 has a NaN; row 1: col 0 = 3 + inf*0 + 4 = NaN, col 1 = inf + 4 */
  double ref[4] = {NAN, NAN, NAN, INFINITY};
  mxt_close(r, ref, 4, 0, 0, "nan/inf propagate");
  /* a reused output buffer must not leak NaN into beta = 0 results */
  for (int i = 0; i < 3; i++) {
    mx_scope_begin();
    mx_array *x = mx_full((int[]){64, 64}, 2, NAN, MX_FLOAT32);
    mx_eval1(mx_contiguous(x));
    mx_scope_end();
    check_mm(rnd(MX_FLOAT32, 2, 64, 32), rnd(MX_FLOAT32, 1, 32), "gemv fresh buffer");
    check_mm(rnd(MX_FLOAT32, 2, 64, 32), rnd(MX_FLOAT32, 2, 32, 64), "gemm fresh buffer");
  }
}

static void test_empty(void) {
  const mx_dtype ts[4] = {MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
  for (int i = 0; i < 4; i++) {
    mx_dtype t = ts[i];
    /* K = 0: zeros */
    mx_array *r = mx_matmul(mx_zeros((int[]){3, 0}, 2, t), mx_zeros((int[]){0, 4}, 2, t));
    double z[12] = {0};
    MXT_CHECK(r && mx_array_ndim(r) == 2 && mx_array_shape(r)[0] == 3 &&
                  mx_array_shape(r)[1] == 4,
              "K=0 shape");
    mxt_close(r, z, 12, 0, 0, "K = 0 gives zeros");
    r = mx_matmul(mx_zeros((int[]){2, 3, 0}, 3, t), mx_zeros((int[]){0}, 1, t));
    mxt_close(r, z, 6, 0, 0, "K = 0 matvec");
    /* M = 0 / N = 0 / batch 0 */
    r = mx_matmul(rnd(t, 2, 0, 4), rnd(t, 2, 4, 5));
    MXT_CHECK(r && mx_array_shape(r)[0] == 0 && mx_array_shape(r)[1] == 5, "M = 0");
    MXT_CHECK(r && mx_eval1(r) == MX_OK, "M = 0 evals");
    r = mx_matmul(rnd(t, 2, 3, 4), rnd(t, 2, 4, 0));
    MXT_CHECK(r && mx_array_size(r) == 0 && mx_eval1(r) == MX_OK, "N = 0");
    r = mx_matmul(rnd(t, 3, 0, 3, 4), rnd(t, 2, 4, 2));
    MXT_CHECK(r && mx_array_size(r) == 0 && mx_array_ndim(r) == 3 && mx_eval1(r) == MX_OK,
              "batch 0");
  }
  /* addmm with K = 0 is beta * c */
  mx_array *c = rnd(MX_FLOAT32, 2, 3, 4);
  mx_array *r = mx_addmm(c, mx_zeros((int[]){3, 0}, 2, MX_FLOAT32),
                         mx_zeros((int[]){0, 4}, 2, MX_FLOAT32), 2.0f, 0.5f);
  double *cv = mxt_to_f64(c);
  for (int i = 0; i < 12; i++) cv[i] *= 0.5;
  mxt_close(r, cv, 12, 1e-7, 0, "addmm K = 0");
  free(cv);
}

static void test_errors(void) {
  mx_array *ia = mxt_rand((int[]){3, 4}, 2, MX_INT32, -5, 5);
  mx_array *ib = mxt_rand((int[]){4, 2}, 2, MX_INT32, -5, 5);
  MXT_CHECK(mx_matmul(ia, ib) == NULL, "int matmul rejected");
  MXT_CHECK(strstr(mx_last_error(), "[matmul]") && strstr(mx_last_error(), "floating"),
            "msg: %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_matmul(mx_astype(ia, MX_BOOL), mx_astype(ib, MX_UINT8)) == NULL,
            "bool/u8");
  mx_clear_error();
  MXT_CHECK(mx_matmul(mx_astype(ia, MX_COMPLEX64), mx_astype(ib, MX_FLOAT32)) == NULL,
            "complex rejected");
  mx_clear_error();
  MXT_CHECK(mx_addmm(ia, rnd(MX_INT32, 2, 3, 4), ib, 1, 1) == NULL, "int addmm rejected");
  MXT_CHECK(strstr(mx_last_error(), "[addmm]") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_matmul(mx_array_scalar_f64(2, MX_FLOAT32), rnd(MX_FLOAT32, 1, 3)) == NULL,
            "0-d");
  MXT_CHECK(strstr(mx_last_error(), "0 dimension") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_matmul(rnd(MX_FLOAT32, 2, 3, 4), rnd(MX_FLOAT32, 2, 5, 2)) == NULL,
            "K mismatch");
  MXT_CHECK(strstr(mx_last_error(), "(3,4)") && strstr(mx_last_error(), "(5,2)"),
            "msg: %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_matmul(rnd(MX_FLOAT32, 1, 3), rnd(MX_FLOAT32, 1, 4)) == NULL,
            "vec mismatch");
  mx_clear_error();
  MXT_CHECK(mx_matmul(NULL, rnd(MX_FLOAT32, 1, 4)) == NULL, "NULL in");
  MXT_CHECK(mx_addmm(rnd(MX_FLOAT32, 1, 3), rnd(MX_FLOAT32, 2, 2, 4),
                     rnd(MX_FLOAT32, 2, 4, 2), 1, 1) == NULL,
            "c does not broadcast");
  MXT_CHECK(strstr(mx_last_error(), "[addmm]") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
  /* c may not grow the result */
  MXT_CHECK(mx_addmm(rnd(MX_FLOAT32, 3, 5, 2, 2), rnd(MX_FLOAT32, 2, 2, 4),
                     rnd(MX_FLOAT32, 2, 4, 2), 1, 1) == NULL,
            "c larger than result");
  mx_clear_error();
}

static void check_addmm(mx_array *c, mx_array *a, mx_array *b, float alpha, float beta,
                        const char *what) {
  mx_array *r = mx_addmm(c, a, b, alpha, beta);
  MXT_OK(r);
  if (!r) return;
  ref_t ref = ref_addmm(c, a, b, alpha, beta);
  int K = mx_array_shape(a)[mx_array_ndim(a) - 1];
  double rtol, atol;
  tol_for(mx_array_dtype(r), K, &rtol, &atol);
  if (same_shape(r, &ref, what))
    mxt_close(r, ref.v, prod(ref.shape, ref.ndim), rtol, atol * 4, what);
  free(ref.v);
}

static void test_addmm(void) {
  const mx_dtype ts[4] = {MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
  for (int i = 0; i < 4; i++) {
    mx_dtype t = ts[i];
    check_addmm(rnd(t, 2, 6, 5), rnd(t, 2, 6, 7), rnd(t, 2, 7, 5), 1, 1, "full c");
    check_addmm(rnd(t, 1, 5), rnd(t, 2, 6, 7), rnd(t, 2, 7, 5), 0.5f, 2, "row c");
    check_addmm(rnd(t, 2, 6, 1), rnd(t, 2, 6, 7), rnd(t, 2, 7, 5), -1, 0.25f, "column c");
    check_addmm(mx_array_scalar_f64(1.5, t), rnd(t, 2, 6, 7), rnd(t, 2, 7, 5), 2, 3,
                "0-d c");
    check_addmm(rnd(t, 2, 6, 5), rnd(t, 2, 6, 7), rnd(t, 2, 7, 5), 1, 0, "beta 0");
    check_addmm(rnd(t, 1, 5), rnd(t, 3, 4, 6, 7), rnd(t, 2, 7, 5), 1, 1,
                "batched, folded");
    check_addmm(rnd(t, 3, 4, 1, 5), rnd(t, 3, 4, 6, 7), rnd(t, 3, 4, 7, 5), 1, -1,
                "batched c");
    check_addmm(rnd(t, 1, 6), rnd(t, 2, 6, 7), rnd(t, 1, 7), 1, 1, "matvec c");
    check_addmm(rnd(t, 1, 5), rnd(t, 1, 7), rnd(t, 2, 7, 5), 1, 1, "vecmat c");
    check_addmm(mxt_noncontig(rnd(t, 2, 6, 5)), mxt_noncontig(rnd(t, 2, 6, 7)),
                mxt_noncontig(rnd(t, 2, 7, 5)), 1.25f, 0.75f, "noncontig");
    check_addmm(rnd(t, 2, 1, 5), rnd(t, 2, 1, 7), rnd(t, 2, 7, 5), 1, 1, "M = 1");
  }
  /* c of a different dtype is promoted */
  mx_array *r = mx_addmm(rnd(MX_FLOAT64, 1, 3), rnd(MX_FLOAT32, 2, 2, 4),
                         rnd(MX_FLOAT32, 2, 4, 3), 1, 1);
  MXT_CHECK(r && mx_array_dtype(r) == MX_FLOAT64, "addmm promotes c");
  check_addmm(rnd(MX_FLOAT16, 1, 3), rnd(MX_FLOAT32, 2, 2, 4), rnd(MX_FLOAT32, 2, 4, 3),
              1, 1, "half c");
}

/* outer / inner / tensordot against loops. */
static void test_outer_inner(void) {
  mx_array *a = rnd(MX_FLOAT32, 2, 2, 3), *b = rnd(MX_FLOAT32, 1, 4);
  mx_array *o = mx_outer(a, b);
  double *A = mxt_to_f64(a), *B = mxt_to_f64(b), ref[24];
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 4; j++) ref[i * 4 + j] = A[i] * B[j];
  MXT_CHECK(o && mx_array_ndim(o) == 2 && mx_array_shape(o)[0] == 6, "outer shape");
  mxt_close(o, ref, 24, 1e-6, 1e-7, "outer");
  free(A);
  free(B);
  /* integer outer (numpy/MLX allow it) */
  mx_array *ia = mxt_rand((int[]){5}, 1, MX_INT32, -100, 100),
           *ib = mxt_rand((int[]){3}, 1, MX_INT32, -100, 100);
  mx_array *io = mx_outer(ia, ib);
  A = mxt_to_f64(ia);
  B = mxt_to_f64(ib);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 3; j++) ref[i * 3 + j] = A[i] * B[j];
  MXT_CHECK(io && mx_array_dtype(io) == MX_INT32, "int outer dtype");
  mxt_close(io, ref, 15, 0, 0, "int outer");
  free(A);
  free(B);
  /* inner: last axes contracted */
  mx_array *x = rnd(MX_FLOAT32, 3, 2, 3, 5), *y = rnd(MX_FLOAT32, 2, 4, 5);
  mx_array *in = mx_inner(x, y);
  double *X = mxt_to_f64(x), *Y = mxt_to_f64(y), iref[24];
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 4; j++) {
      double s = 0;
      for (int k = 0; k < 5; k++) s += X[i * 5 + k] * Y[j * 5 + k];
      iref[i * 4 + j] = s;
    }
  MXT_CHECK(in && mx_array_ndim(in) == 3 && mx_array_shape(in)[2] == 4, "inner shape");
  mxt_close(in, iref, 24, 1e-5, 1e-5, "inner");
  /* inner with a 0-d operand is a product */
  mx_array *s = mx_inner(mx_array_scalar_f64(2.0, MX_FLOAT32), x);
  for (int i = 0; i < 30; i++) X[i] *= 2;
  MXT_CHECK(s && mx_array_ndim(s) == 3, "inner scalar shape");
  mxt_close(s, X, 30, 1e-6, 0, "inner scalar");
  mx_array *s2 = mx_inner(x, mx_array_scalar_f64(0.5, MX_FLOAT32));
  for (int i = 0; i < 30; i++) X[i] *= 0.25;
  mxt_close(s2, X, 30, 1e-6, 0, "inner scalar right");
  free(X);
  free(Y);
  MXT_CHECK(mx_inner(x, rnd(MX_FLOAT32, 1, 4)) == NULL, "inner mismatch");
  MXT_CHECK(strstr(mx_last_error(), "[inner]") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
}

static void test_tensordot(void) {
  /* a (2,3,4,5), b (4,5,6): axes 2 -> (2,3,6) */
  mx_array *a = rnd(MX_FLOAT32, 4, 2, 3, 4, 5), *b = rnd(MX_FLOAT32, 3, 4, 5, 6);
  double *A = mxt_to_f64(a), *B = mxt_to_f64(b), ref[36];
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) {
      double s = 0;
      for (int k = 0; k < 20; k++) s += A[i * 20 + k] * B[k * 6 + j];
      ref[i * 6 + j] = s;
    }
  mx_array *r = mx_tensordot(a, b, 2);
  MXT_CHECK(r && mx_array_ndim(r) == 3 && mx_array_shape(r)[2] == 6, "tensordot shape");
  mxt_close(r, ref, 36, 1e-5, 1e-5, "tensordot 2");
  /* the same with explicit, permuted axes: a axes (3, 2) with b (1, 0) of b' = b.T(1,0,2)
   */
  int perm[3] = {1, 0, 2};
  mx_array *bp = mx_transpose(b, perm, 3); /* (5,4,6) */
  int ax[2] = {-1, 2}, bx[2] = {0, 1};
  r = mx_tensordot_axes(a, bp, ax, bx, 2);
  mxt_close(r, ref, 36, 1e-5, 1e-5, "tensordot axes");
  /* axes 0: outer product */
  r = mx_tensordot(rnd(MX_FLOAT32, 1, 3), rnd(MX_FLOAT32, 2, 2, 2), 0);
  MXT_CHECK(r && mx_array_ndim(r) == 3, "tensordot 0 is outer");
  /* contract a middle axis: a (3,4,2) axis 1 with b (5,4) axis 1 -> (3,2,5) */
  mx_array *c = rnd(MX_FLOAT64, 3, 3, 4, 2), *d = rnd(MX_FLOAT64, 2, 5, 4);
  double *C = mxt_to_f64(c), *D = mxt_to_f64(d), r2[30];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++)
      for (int l = 0; l < 5; l++) {
        double s = 0;
        for (int k = 0; k < 4; k++) s += C[(i * 4 + k) * 2 + j] * D[l * 4 + k];
        r2[(i * 2 + j) * 5 + l] = s;
      }
  int cx = 1, dx = 1;
  mxt_close(mx_tensordot_axes(c, d, &cx, &dx, 1), r2, 30, 1e-12, 1e-12,
            "tensordot middle");
  free(A);
  free(B);
  free(C);
  free(D);
  /* errors */
  MXT_CHECK(mx_tensordot(a, b, -1) == NULL, "negative axes");
  mx_clear_error();
  MXT_CHECK(mx_tensordot(a, b, 4) == NULL, "too many axes");
  mx_clear_error();
  MXT_CHECK(mx_tensordot(a, b, 1) == NULL, "size mismatch");
  MXT_CHECK(strstr(mx_last_error(), "[tensordot]") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  int bad[2] = {0, 0}, bb[2] = {0, 1};
  MXT_CHECK(mx_tensordot_axes(a, b, bad, bb, 2) == NULL, "repeated axis");
  mx_clear_error();
  int oob = 7;
  MXT_CHECK(mx_tensordot_axes(a, b, &oob, bb, 1) == NULL, "axis out of range");
  mx_clear_error();
}

/* Half matrix @ vector reads the matrix in place (dot or axpy form); run
 * with the vector bodies and the portable ones. */
static void test_half_gemv(void) {
  for (int simd = 1; simd >= 0; simd--) {
    mx_lin_simd_enable(simd);
    for (int q = 0; q < 2; q++) {
      mx_dtype t = q ? MX_FLOAT16 : MX_BFLOAT16;
      check_mm(rnd(t, 2, 37, 70), rnd(t, 1, 70), "A @ x (dot)");
      check_mm(mx_transpose(rnd(t, 2, 70, 37), NULL, 0), rnd(t, 1, 70), "A.T @ x (axpy)");
      check_mm(rnd(t, 1, 70), rnd(t, 2, 70, 300), "x @ B (axpy)");
      check_mm(rnd(t, 1, 70), mx_transpose(rnd(t, 2, 45, 70), NULL, 0), "x @ W.T (dot)");
      check_mm(rnd(t, 2, 1, 70), mx_transpose(rnd(t, 2, 45, 70), NULL, 0), "row @ W.T");
      check_mm(rnd(t, 2, 37, 1), rnd(t, 2, 1, 1), "K = 1");
      check_mm(rnd(t, 2, 1, 1), rnd(t, 2, 1, 45), "K = 1 row");
      check_mm(rnd(t, 3, 6, 1, 33), rnd(t, 3, 6, 33, 20), "batched vecmat");
      check_mm(rnd(t, 3, 6, 20, 33), rnd(t, 3, 6, 33, 1), "batched matvec");
      /* a strided and a reversed vector */
      check_mm(rnd(t, 2, 9, 10), mx_slice_axis(rnd(t, 1, 20), 0, 0, 20, 2), "strided x");
      check_mm(mx_slice_axis(rnd(t, 1, 10), 0, MX_SLICE_DEFAULT, MX_SLICE_DEFAULT, -1),
               mx_transpose(rnd(t, 2, 12, 10), NULL, 0), "reversed x");
      /* neither axis of the matrix has unit stride: the packing path */
      int st[2] = {0, 0}, sp[2] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT}, stp[2] = {2, 2};
      check_mm(mx_slice(rnd(t, 2, 18, 40), st, sp, stp), rnd(t, 1, 20), "stepped matrix");
      check_mm(rnd(t, 1, 9), mx_slice(rnd(t, 2, 18, 40), st, sp, stp), "x @ stepped");
      /* long rows: several vector iterations and a tail */
      check_mm(rnd(t, 2, 5, 1000), rnd(t, 1, 1000), "long dot");
      check_mm(rnd(t, 1, 50), rnd(t, 2, 50, 1001), "long axpy");
      /* a few rows or columns: one pass over the matrix for all of them */
      check_mm(rnd(t, 2, 3, 70), mx_transpose(rnd(t, 2, 45, 70), NULL, 0),
               "3 rows @ W.T");
      check_mm(rnd(t, 2, 4, 70), rnd(t, 2, 70, 300), "4 rows @ B");
      check_mm(rnd(t, 2, 37, 70), rnd(t, 2, 70, 3), "A @ 3 columns");
      check_mm(rnd(t, 2, 13, 70), mx_transpose(rnd(t, 2, 45, 70), NULL, 0),
               "13 rows @ W.T");
      check_mm(rnd(t, 2, 16, 70), rnd(t, 2, 70, 45), "16 rows @ B");
      /* bfloat16: vdpbf16ps tiles of 4 W rows x up to 4 x rows; several
       * 64-row blocks, K with whole steps of 32 and a tail */
      check_mm(rnd(t, 2, 7, 1000), mx_transpose(rnd(t, 2, 131, 1000), NULL, 0),
               "7 rows @ W.T, long");
      check_mm(rnd(t, 2, 16, 96), mx_transpose(rnd(t, 2, 66, 96), NULL, 0),
               "16 rows @ W.T");
      check_mm(rnd(t, 2, 2, 33), mx_transpose(rnd(t, 2, 5, 33), NULL, 0), "2 rows @ W.T");
      check_mm(mx_transpose(rnd(t, 2, 70, 5), NULL, 0),
               mx_transpose(rnd(t, 2, 45, 70), NULL, 0), "5 col-major rows @ W.T");
      check_mm(rnd(t, 2, 17, 70), mx_transpose(rnd(t, 2, 45, 70), NULL, 0),
               "17 rows: packed");
      check_mm(rnd(t, 2, 30, 70), rnd(t, 2, 70, 7), "A @ 7 columns");
      check_mm(rnd(t, 3, 2, 2, 70), mx_transpose(rnd(t, 2, 45, 70), NULL, 0),
               "folded 4 rows");
      check_mm(rnd(t, 3, 2, 3, 70), mx_transpose(rnd(t, 2, 45, 70), NULL, 0),
               "folded 6 rows");
      check_mm(rnd(t, 3, 3, 7, 70), mx_transpose(rnd(t, 2, 45, 70), NULL, 0),
               "folded 21 rows");
      check_mm(mx_transpose(rnd(t, 2, 70, 3), NULL, 0), rnd(t, 2, 70, 50),
               "3 col-major rows");
      check_addmm(rnd(t, 2, 3, 1), rnd(t, 2, 3, 70),
                  mx_transpose(rnd(t, 2, 45, 70), NULL, 0), 1.5f, -1, "addmm 3 rows");
      check_addmm(rnd(t, 1, 37), rnd(t, 2, 37, 70), rnd(t, 1, 70), 0.5f, -2,
                  "addmm matvec");
      check_addmm(rnd(t, 1, 45), rnd(t, 1, 70), mx_transpose(rnd(t, 2, 45, 70), NULL, 0),
                  2, 0.5f, "addmm vecmat");
    }
  }
  mx_lin_simd_enable(true);
}

/* The vector conversions round exactly like the scalar reference
 * conversions of the core, NaN, infinities, subnormals and ties included. */
static void test_conversions(void) {
  enum { N = 4099 };
  float *f = malloc(N * sizeof(float)), *back = malloc(N * sizeof(float));
  uint16_t *h = malloc(N * sizeof(uint16_t));
  const float special[] = {0.0f,
                           -0.0f,
                           INFINITY,
                           -INFINITY,
                           NAN,
                           -NAN,
                           1e-40f,
                           -1e-42f,
                           65504.0f,
                           65520.0f,
                           65519.0f,
                           5.96e-8f,
                           2.98e-8f,
                           1.00390625f,
                           1.01171875f,
                           3.4e38f,
                           1.0f + 1.0f / 2048,
                           1.0f + 3.0f / 2048};
  for (int simd = 1; simd >= 0; simd--) {
    mx_lin_simd_enable(simd);
    for (int bf = 0; bf < 2; bf++) {
      for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)mxt_next();
        if (i < (int)(sizeof special / sizeof special[0]))
          memcpy(&u, &special[i], 4);
        else if (i % 3 == 0)
          u &= 0x807fffffu | (((uint32_t)(mxt_next() % 40) + 100) << 23);
        memcpy(&f[i], &u, 4);
      }
      mx_lin_f32_to_half(f, bf, h, N);
      int bad = 0;
      for (int i = 0; i < N && bad < 3; i++) {
        uint16_t want = bf ? mx_f32_to_bf16(f[i]) : mx_f32_to_f16(f[i]);
        if (h[i] != want) {
          bad++;
          uint32_t u;
          memcpy(&u, &f[i], 4);
          MXT_CHECK(0, "simd %d bf16 %d: f32 %08x -> %04x, want %04x", simd, bf, u, h[i],
                    want);
        }
      }
      mx_lin_half_to_f32(h, bf, back, N);
      for (int i = 0; i < N && bad < 3; i++) {
        float want = bf ? mx_bf16_to_f32(h[i]) : mx_f16_to_f32(h[i]);
        if (memcmp(&back[i], &want, 4) != 0) {
          bad++;
          MXT_CHECK(0, "simd %d bf16 %d: half %04x -> %g, want %g", simd, bf, h[i],
                    back[i], want);
        }
      }
      /* dot and axpy against float64 */
      double d = 0;
      for (int i = 0; i < 1000; i++) {
        back[i] = (float)mxt_uniform(-1, 1);
        h[i] = bf ? mx_f32_to_bf16(back[i] * 0.5f) : mx_f32_to_f16(back[i] * 0.5f);
        d += (double)back[i] * (bf ? mx_bf16_to_f32(h[i]) : mx_f16_to_f32(h[i]));
      }
      for (int n = 0; n < 40; n++) {
        double dn = 0;
        for (int i = 0; i < n; i++)
          dn += (double)back[i] * (bf ? mx_bf16_to_f32(h[i]) : mx_f16_to_f32(h[i]));
        MXT_CHECK(fabs(mx_lin_dot_half(h, bf, back, n) - dn) < 1e-5, "dot n=%d", n);
      }
      MXT_CHECK(fabs(mx_lin_dot_half(h, bf, back, 1000) - d) < 1e-4, "dot 1000");
      /* several vectors at once: x_v = back + 7 v */
      for (int nv = 1; nv <= 4; nv++)
        for (int n = 0; n < 70; n += 23) {
          float out[4];
          mx_lin_dot_half_multi(h, bf, back, 7, nv, n, out);
          for (int v = 0; v < nv; v++) {
            double dv = 0;
            for (int i = 0; i < n; i++)
              dv += (double)back[7 * v + i] *
                    (bf ? mx_bf16_to_f32(h[i]) : mx_f16_to_f32(h[i]));
            MXT_CHECK(fabs(out[v] - dv) < 1e-5, "multi dot nv=%d n=%d v=%d", nv, n, v);
          }
        }
      float y[37];
      for (int i = 0; i < 37; i++) y[i] = (float)i;
      mx_lin_axpy_half(2.0f, h, bf, y, 37);
      for (int i = 0; i < 37; i++) {
        double want = i + 2.0 * (bf ? mx_bf16_to_f32(h[i]) : mx_f16_to_f32(h[i]));
        MXT_CHECK(fabs(y[i] - want) < 1e-6, "axpy %d", i);
      }
    }
  }
  mx_lin_simd_enable(true);
  free(f);
  free(back);
  free(h);
}

/* bfloat16 @ bfloat16 (gemm_bf16.c on AVX512-BF16; the capped run takes the
 * float32 BLAS path): stricter than check_mm: each result within half a
 * bfloat16 ulp of the float64 value plus float32 accumulation error. */
static void check_bf16(mx_array *a, mx_array *b, float alpha, const char *what) {
  mx_array *r = alpha == 1
                    ? mx_matmul(a, b)
                    : mx_addmm(mx_zeros((int[]){1}, 1, MX_BFLOAT16), a, b, alpha, 0);
  MXT_OK(r);
  if (!r) return;
  ref_t ref = ref_addmm(NULL, a, b, alpha, 0);
  ref_t mag = ref_addmm(NULL, mx_abs(a), mx_abs(b), fabs(alpha), 0);
  int K = mx_array_shape(a)[mx_array_ndim(a) - 1];
  if (same_shape(r, &ref, what)) {
    double *d = mxt_to_f64(r);
    int64_t n = prod(ref.shape, ref.ndim);
    for (int64_t i = 0; i < n; i++) {
      double tol = 0x1p-8 * fabs(ref.v[i]) + 1.2e-7 * K * mag.v[i] + 1e-30;
      if (!(fabs(d[i] - ref.v[i]) <= tol)) {
        MXT_CHECK(0, "%s: element %lld got %.8g want %.8g (tol %.3g)", what, (long long)i,
                  d[i], ref.v[i], tol);
        break;
      }
    }
    free(d);
  }
  free(ref.v);
  free(mag.v);
}

/* Rounding of the bfloat16 GEMM's results is mx_f32_to_bf16's, bit for bit,
 * float32 denormals included (vcvtneps2bf16 would flush them: the kernel
 * checks each vector): small integer products scaled by alpha = 2^-140 are
 * exact float32 denormals. Both output layouts (x @ w.T and a @ b). */
static void test_bf16_gemm_rounding(void) {
  for (int layout = 0; layout < 2; layout++) {
    int M = 37, K = 3, N = 40;
    float av[37 * 3], bv[40 * 3];
    for (int i = 0; i < M * K; i++) av[i] = (float)((i * 7) % 17 - 8);
    for (int i = 0; i < N * K; i++) bv[i] = (float)((i * 5) % 13 - 6);
    mx_array *a =
        mx_astype(mx_array_from_data(av, (int[]){M, K}, 2, MX_FLOAT32), MX_BFLOAT16);
    mx_array *b =
        mx_astype(mx_array_from_data(bv, (int[]){N, K}, 2, MX_FLOAT32), MX_BFLOAT16);
    /* layout 0: b transposed view (x @ w.T); 1: b contiguous (K, N) */
    mx_array *bb =
        layout ? mx_contiguous(mx_transpose(b, NULL, 0)) : mx_transpose(b, NULL, 0);
    mx_array *r =
        mx_addmm(mx_zeros((int[]){1}, 1, MX_BFLOAT16), a, bb, ldexpf(1, -140), 0);
    uint16_t got[37 * 40];
    MXT_CHECK(r && mx_array_read(r, MX_BFLOAT16, got, sizeof got) == MX_OK, "read");
    int bad = 0;
    for (int i = 0; i < M && !bad; i++)
      for (int j = 0; j < N; j++) {
        float s = 0;
        for (int k = 0; k < K; k++) s += av[i * K + k] * bv[j * K + k];
        uint16_t want = mx_f32_to_bf16(ldexpf(s, -140));
        if (got[i * N + j] != want) {
          MXT_CHECK(0, "layout %d: [%d][%d] %04x want %04x", layout, i, j, got[i * N + j],
                    want);
          bad = 1;
          break;
        }
      }
  }
}

static void test_bf16_gemm(void) {
  const mx_dtype t = MX_BFLOAT16;
  for (int pass = 0; pass < 3; pass++) {
    /* pass 0: the AMX tiles where the CPU has them; 1: the vdpbf16ps
     * kernel where it has it; 2: capped (BLAS) */
    if (pass == 0 && mx_cpu_isa_hw() < MX_ISA_AMX) continue;
    mx_cpu_isa_cap(pass == 0   ? MX_ISA_AMX
                   : pass == 1 ? MX_ISA_AVX512BF16
                               : MX_ISA_AVX512);
    char w[96];
    const char *tag = pass == 0 ? "amx" : pass == 1 ? "bf16" : "capped";
#define BCASE(A, B, ALPHA, NAME)                \
  do {                                          \
    snprintf(w, sizeof w, "%s: %s", tag, NAME); \
    check_bf16(A, B, ALPHA, w);                 \
  } while (0)
    /* odd sizes: row tails of 6, column tails of 16 and 64, odd K */
    BCASE(rnd(t, 2, 37, 29), rnd(t, 2, 29, 53), 1, "37x29 @ 29x53");
    BCASE(rnd(t, 2, 17, 1), rnd(t, 2, 1, 19), 1, "K = 1");
    BCASE(rnd(t, 2, 130, 256), rnd(t, 2, 256, 70), 1, "130x256 @ 256x70");
    /* K over several blocks of 256 with a tail */
    BCASE(rnd(t, 2, 40, 601), rnd(t, 2, 601, 50), 1, "K = 601");
    /* x @ w.T, the linear layer: w read in place (K even) or copied (odd) */
    BCASE(rnd(t, 2, 33, 300), mx_transpose(rnd(t, 2, 97, 300), NULL, 0), 1, "x @ w.T");
    BCASE(rnd(t, 2, 21, 301), mx_transpose(rnd(t, 2, 70, 301), NULL, 0), 1,
          "x @ w.T, K odd");
    /* rows of x apart by more than K (a column slice): the packing's 16 x 16
     * pair transposes read them in place; K = 70 leaves a tail of 3 pairs */
    mx_array *wide = rnd(t, 2, 40, 100);
    mx_array *xs = mx_slice(wide, (int[]){0, 3}, (int[]){40, 73}, (int[]){1, 1});
    BCASE(xs, mx_transpose(rnd(t, 2, 50, 70), NULL, 0), 1, "row-strided x @ w.T");
    /* a.T @ b: neither operand has unit stride along K */
    BCASE(mx_transpose(rnd(t, 2, 45, 31), NULL, 0), rnd(t, 2, 45, 40), 1, "a.T @ b");
    BCASE(mx_transpose(rnd(t, 2, 64, 20), NULL, 0),
          mx_transpose(rnd(t, 2, 23, 64), NULL, 0), 1, "a.T @ b.T");
    /* steps on both axes */
    mx_array *big = rnd(t, 2, 80, 90);
    mx_array *sa = mx_slice(big, (int[]){1, 0}, (int[]){80, 90}, (int[]){2, 3});
    BCASE(sa, rnd(t, 2, 30, 26), 1, "stepped a (40x30)");
    BCASE(rnd(t, 2, 26, 40), sa, 1, "stepped b (40x30)");
    BCASE(mxt_noncontig(rnd(t, 2, 50, 66)), mxt_noncontig(rnd(t, 2, 66, 34)), 1,
          "noncontig");
    /* batches: separate products, broadcast b, folded rows */
    BCASE(rnd(t, 3, 3, 33, 40), rnd(t, 3, 3, 40, 20), 1, "3 batches");
    BCASE(rnd(t, 4, 2, 1, 17, 24), rnd(t, 3, 3, 24, 19), 1, "broadcast batches");
    BCASE(rnd(t, 3, 4, 32, 64), mx_transpose(rnd(t, 2, 48, 64), NULL, 0), 1,
          "folded batch @ w.T");
    /* more than 1024 rows of X: the float32 tile's row blocks */
    BCASE(rnd(t, 2, 30, 64), rnd(t, 2, 64, 1100), 1, "30x64 @ 64x1100");
    /* alpha (addmm with beta 0) */
    BCASE(rnd(t, 2, 19, 40), rnd(t, 2, 40, 18), 0.5f, "alpha 0.5");
#undef BCASE
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

/* Products large enough that mx_blas_gemm cuts them into one block per pool
 * thread once OpenBLAS runs single-threaded (mx_blas_on_pool): every
 * layout BLAS reads in place, gemv both ways, float32 and float64, sizes
 * that are not multiples of the 16-row blocks, leading dimensions larger
 * than the extent. */
static void test_blas_split(void) {
  const mx_dtype ts[2] = {MX_FLOAT32, MX_FLOAT64};
  for (int i = 0; i < 2; i++) {
    mx_dtype t = ts[i];
    check_mm(rnd(t, 2, 131, 77), rnd(t, 2, 77, 45), "split rows 131x77 @ 77x45");
    check_mm(rnd(t, 2, 45, 77), rnd(t, 2, 77, 131), "split cols 45x77 @ 77x131");
    check_mm(mx_transpose(rnd(t, 2, 77, 131), NULL, 0), rnd(t, 2, 77, 45), "split a.T");
    check_mm(rnd(t, 2, 45, 77), mx_transpose(rnd(t, 2, 131, 77), NULL, 0), "split b.T");
    check_mm(mx_transpose(rnd(t, 2, 90, 70), NULL, 0),
             mx_transpose(rnd(t, 2, 75, 90), NULL, 0), "split a.T @ b.T");
    check_mm(mx_slice_axis(rnd(t, 2, 100, 140), 1, 3, 133, 1), rnd(t, 2, 130, 41),
             "split, lda > cols");
    check_mm(rnd(t, 2, 300, 301), rnd(t, 1, 301), "split matvec");
    check_mm(mx_transpose(rnd(t, 2, 301, 300), NULL, 0), rnd(t, 1, 301), "split A.T @ x");
    check_mm(rnd(t, 1, 299), rnd(t, 2, 299, 303), "split vecmat");
    check_mm(rnd(t, 1, 299), mx_transpose(rnd(t, 2, 303, 299), NULL, 0), "split x @ B.T");
    check_mm(rnd(t, 3, 3, 70, 90), rnd(t, 3, 3, 90, 60), "split batches");
  }
  /* conv2d's BLAS products go through the same call */
  mx_array *x = rnd(MX_FLOAT32, 4, 1, 20, 20, 16), *w = rnd(MX_FLOAT32, 4, 24, 3, 3, 16);
  mx_array *y = mx_conv2d(x, w, (int[]){1, 1}, (int[]){1, 1}, (int[]){1, 1}, 1);
  MXT_OK(y);
  if (y) { /* one output element against a float64 loop */
    float xs[20 * 20 * 16], ws[24 * 3 * 3 * 16], ys[20 * 20 * 24];
    MXT_CHECK(mx_array_read(x, MX_FLOAT32, xs, sizeof xs) == MX_OK &&
                  mx_array_read(w, MX_FLOAT32, ws, sizeof ws) == MX_OK &&
                  mx_array_read(y, MX_FLOAT32, ys, sizeof ys) == MX_OK,
              "conv read: %s", mx_last_error());
    for (int oy = 0; oy < 20; oy += 7)
      for (int oc = 0; oc < 24; oc += 5) {
        double ref = 0;
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++)
            for (int c = 0; c < 16; c++) {
              int iy = oy + ky - 1, ix = 9 + kx - 1;
              if (iy < 0 || iy >= 20) continue;
              ref += (double)xs[(iy * 20 + ix) * 16 + c] *
                     ws[((oc * 3 + ky) * 3 + kx) * 16 + c];
            }
        double got = ys[(oy * 20 + 9) * 24 + oc];
        MXT_CHECK(fabs(got - ref) <= 1e-5 * (1 + fabs(ref)), "conv (%d,9,%d): %g vs %g",
                  oy, oc, got, ref);
      }
  }
}

/* threads of this process (Linux), -1 where /proc is missing */
static int process_threads(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* mx_blas_on_pool: OpenBLAS on one thread, its own threads gone, products
 * split over the pool (the mx binary's setting) */
static void test_blas_on_pool(void) {
  bool user = getenv("OPENBLAS_NUM_THREADS") != NULL;
  bool single = mx_blas_on_pool();
  if (user) {
    printf("  OPENBLAS_NUM_THREADS is set: the user's setting stands\n");
    return;
  }
  MXT_CHECK(single, "OpenBLAS still threaded after mx_blas_on_pool");
  int n = process_threads();
  if (n >= 0)
    MXT_CHECK(n <= mx_num_threads(), "%d threads in the process, pool of %d", n,
              mx_num_threads());
  test_shapes();
  test_layouts();
  test_dtypes();
  test_blas_split();
}

int main(void) {
  MXT_RUN(test_blas_split);
  MXT_RUN(test_shapes);
  MXT_RUN(test_batch_broadcast);
  MXT_RUN(test_layouts);
  MXT_RUN(test_dtypes);
  MXT_RUN(test_special_values);
  MXT_RUN(test_empty);
  MXT_RUN(test_errors);
  MXT_RUN(test_addmm);
  MXT_RUN(test_outer_inner);
  MXT_RUN(test_tensordot);
  MXT_RUN(test_half_gemv);
  MXT_RUN(test_conversions);
  MXT_RUN(test_bf16_gemm);
  MXT_RUN(test_bf16_gemm_rounding);
  MXT_RUN(test_blas_on_pool); /* last: it changes OpenBLAS's threads */
  return mxt_finish();
}
