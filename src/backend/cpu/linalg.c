/* linalg.c: CPU kernel of matmul/addmm (see primitives/linalg.h).
 *
 * Floating dtypes run on OpenBLAS (through blas.c). Each batch element is
 * a (M, K) @ (K, N) product; an operand whose 2-D layout BLAS can read
 * (unit stride on one axis, a leading dimension >= the other extent) is
 * passed in place, with CblasTrans for column-major ("transposed") views,
 * so a.T or a column slice never gets copied. Other layouts (broadcast
 * rows, negative strides, steps on both axes) and dtypes BLAS lacks are
 * packed into a contiguous compute buffer: float16/bfloat16/float32 ->
 * float32 (sgemm), float64 -> float64 (dgemm). float16/bfloat16 results
 * accumulate in a float32 buffer and are rounded once at the end (round to
 * nearest even), so they equal a float32 matmul of the same inputs up to
 * that final rounding. Packing runs in K blocks so the scratch stays
 * bounded for large operands; scratch comes from the library allocator,
 * whose cache hands the same blocks back next call.
 *
 * M == 1 or N == 1: float32/float64 call gemv; float16/bfloat16 read the
 * matrix as it is (dot products along its unit-stride axis, or axpy along
 * the other; linalg_simd.c) instead of converting it, which halves the bytes
 * read by a decode step with half weights. Up to HALF_FEW rows (or columns)
 * do the same in one pass over the matrix; two or more bfloat16 rows
 * against a bfloat16 matrix use vdpbf16ps tiles of four matrix rows by four
 * vectors (4864x896 with 8 rows: 690 -> 223 us; speculative decoding's
 * verify step, batched decoding, short prompts).
 *
 * Batches of small products (where OpenBLAS stays on the calling thread:
 * 64^3 multiply-adds for gemm, 9216 for gemv) are spread over the worker
 * pool; larger ones run one after another, each cut over the pool by
 * mx_blas_gemm (blas.c), or threaded by OpenBLAS where it keeps its own
 * threads. When b is shared by every batch (no batch dims, or broadcast
 * ones) and a's batch dims fold into its rows, the whole batch is one GEMM
 * with M' = batch * M (MLX does the same by flattening a).
 *
 * Integer and bool dtypes (reachable only through einsum/tensordot/outer/
 * inner) use a plain triple loop that wraps like the dtype (bool: any). */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../../primitives/linalg.h"
#include "blas.h"
#include "dtypes.h"
#include "gemm_bf16.h"
#include "linalg_simd.h"

/* Work per batch element below which OpenBLAS stays on the calling thread
 * (its GEMM_MULTITHREAD_THRESHOLD 4 * 65536): such batches go to the pool. */
#define MM_SMALL_WORK (64 * 64 * 64)
/* The same for gemv (2304 * 4 multiply-adds). */
#define MM_SMALL_GEMV (2304 * 4)
/* Compute elements (per operand) packed at once before K gets blocked. */
#define MM_PACK_LIMIT (4 << 20)
/* Half products with at most this many rows (or columns) read the matrix in
 * place, one pass for all of them, instead of converting it. */
#define HALF_FEW 16

/* ---- half to float conversion ---- */

static float g_f16_table[65536];
static pthread_once_t g_f16_once = PTHREAD_ONCE_INIT;
static void init_f16_table(void) {
  for (uint32_t h = 0; h < 65536; h++) g_f16_table[h] = mx_f16_to_f32((uint16_t)h);
}

static inline float bf16_to_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ---- 2-D operands ---- */

/* One batch element of an operand: rows x cols at element pointer p. */
typedef struct {
  const char *p;
  int rows, cols;
  int64_t rs, cs; /* element strides */
  mx_dtype dt;
} mat_view;

/* Can BLAS read this matrix in place? Row-major (unit column stride) or
 * column-major (unit row stride, passed as the transpose). Size-1 axes may
 * have any stride. rows, cols >= 1. */
static bool blas_layout(int rows, int cols, int64_t rs, int64_t cs, bool *trans,
                        int *ld) {
  if ((cols == 1 || cs == 1) && (rows == 1 || (rs >= cols && rs <= INT_MAX))) {
    *trans = false;
    *ld = rows == 1 ? cols : (int)rs;
    return true;
  }
  if ((rows == 1 || rs == 1) && (cols == 1 || (cs >= rows && cs <= INT_MAX))) {
    *trans = true;
    *ld = cols == 1 ? rows : (int)cs;
    return true;
  }
  return false;
}

/* Pack rows [r0, r1) x cols [c0, c1) of m into dst, converted to float
 * (dbl false) or double. trans false: dst is row-major (r1-r0, c1-c0);
 * trans true: dst is row-major (c1-c0, r1-r0), i.e. column-major. The loop
 * order follows the destination, which is picked to follow the source's
 * faster axis. */
typedef struct {
  const mat_view *m;
  int r0, c0, nr, nc;
  bool trans, dbl;
  void *dst;
} pack_job;

#define PACK_LOOP(ST, GET, DT)                                      \
  for (int64_t o = ob; o < oe; o++) {                               \
    const ST *s = (const ST *)src + o * os;                         \
    DT *d = (DT *)j->dst + o * ni;                                  \
    if (is == 1)                                                    \
      for (int64_t i = 0; i < ni; i++) d[i] = (DT)(GET(s[i]));      \
    else                                                            \
      for (int64_t i = 0; i < ni; i++) d[i] = (DT)(GET(s[i * is])); \
  }

#define ID(x) (x)
#define BF16(x) bf16_to_float(x)
#define F16(x) g_f16_table[x]

#define PACK_TO(DT)                        \
  switch (m->dt) {                         \
    case MX_FLOAT32:                       \
      PACK_LOOP(float, ID, DT) break;      \
    case MX_FLOAT64:                       \
      PACK_LOOP(double, ID, DT) break;     \
    case MX_BFLOAT16:                      \
      PACK_LOOP(uint16_t, BF16, DT) break; \
    case MX_FLOAT16:                       \
      PACK_LOOP(uint16_t, F16, DT) break;  \
    default:                               \
      break;                               \
  }

static void pack_range(void *ctx, int64_t ob, int64_t oe) {
  const pack_job *j = ctx;
  const mat_view *m = j->m;
  size_t isz = mx_dtype_size(m->dt);
  const char *src =
      m->p + ((int64_t)j->r0 * m->rs + (int64_t)j->c0 * m->cs) * (int64_t)isz;
  /* outer index o runs over dst rows, inner i over dst columns */
  int64_t os = j->trans ? m->cs : m->rs, is = j->trans ? m->rs : m->cs;
  int64_t ni = j->trans ? j->nr : j->nc;
  if (!j->dbl && is == 1 && (m->dt == MX_BFLOAT16 || m->dt == MX_FLOAT16)) {
    for (int64_t o = ob; o < oe; o++)
      mx_lin_half_to_f32((const uint16_t *)src + o * os, m->dt == MX_BFLOAT16,
                         (float *)j->dst + o * ni, ni);
    return;
  }
  if (j->dbl) {
    PACK_TO(double)
  } else {
    PACK_TO(float)
  }
}

static void pack(const mat_view *m, int r0, int nr, int c0, int nc, bool trans, bool dbl,
                 void *dst) {
  pack_job j = {m, r0, c0, nr, nc, trans, dbl, dst};
  int64_t outer = trans ? nc : nr, inner = trans ? nr : nc;
  if (m->dt == MX_FLOAT16) pthread_once(&g_f16_once, init_f16_table);
  int64_t grain = inner >= (1 << 15) ? 1 : (1 << 15) / (inner ? inner : 1);
  mx_parallel_for(outer, grain, pack_range, &j);
}

/* Prefer column-major packing when the source walks rows faster. */
static bool pack_trans(const mat_view *m) {
  int64_t ars = m->rs < 0 ? -m->rs : m->rs, acs = m->cs < 0 ? -m->cs : m->cs;
  if (m->rows == 1) return false;
  if (m->cols == 1) return true;
  return ars < acs;
}

/* The 2-D matrix of array a at element offset off (its batch offset). */
static mat_view view_of(const mx_array *a, int64_t off, int rows, int cols, int64_t rs,
                        int64_t cs) {
  mat_view m;
  m.p = (const char *)mx_array_ptr(a) + off * (int64_t)mx_dtype_size(a->dtype);
  m.rows = rows;
  m.cols = cols;
  m.rs = rs;
  m.cs = cs;
  m.dt = a->dtype;
  return m;
}

/* ---- the kernel ---- */

typedef struct {
  mx_array *a, *b, *c, *out;
  int M, N, K;
  float alpha, beta;
  bool dbl;        /* compute in double (float64) */
  bool direct_out; /* out dtype is the compute dtype: BLAS writes into it */
  int nbd;         /* batch dims of out */
  int bshape[MX_MAX_NDIM];
  int64_t abst[MX_MAX_NDIM], bbst[MX_MAX_NDIM], cbst[MX_MAX_NDIM];
  int64_t nbatch;
  int64_t a_rs, a_cs, b_rs, b_cs, c_rs, c_cs;
  bool pack_a, pack_b; /* operands BLAS cannot read in place */
  int half_gemv;       /* 0, or 1: A is the matrix (N <= HALF_FEW), 2: B is (M <= ..) */
  bool bf16_gemm;      /* bfloat16 operands: gemm_bf16.c instead of BLAS */
  int kb;              /* K block when packing */
  atomic_int failed;
} mm_ctx;

static void batch_offsets(const mm_ctx *x, int64_t i, int64_t *ao, int64_t *bo,
                          int64_t *co) {
  *ao = *bo = *co = 0;
  for (int d = x->nbd - 1; d >= 0; d--) {
    int64_t q = i % x->bshape[d];
    i /= x->bshape[d];
    *ao += q * x->abst[d];
    *bo += q * x->bbst[d];
    *co += q * x->cbst[d];
  }
}

/* Scratch of one thread's chunk of batches. It comes from the library
 * allocator: its cache hands the same blocks back on the next call, where
 * malloc of large blocks would map (and page-fault) fresh memory each time. */
typedef struct {
  mx_buffer *ba, *bb, *bc, *bv;
  void *pa, *pb, *pc, *pv;
} mm_scratch;

static void *scratch_get(mx_buffer **b, size_t bytes) {
  *b = mx_buffer_alloc(bytes ? bytes : 1);
  return *b ? (*b)->host : NULL;
}

static bool scratch_alloc(const mm_ctx *x, mm_scratch *s) {
  size_t esz = x->dbl ? 8 : 4;
  memset(s, 0, sizeof *s);
  bool ok = true;
  if (x->pack_a) ok &= scratch_get(&s->ba, esz * (size_t)x->M * (size_t)x->kb) != NULL;
  if (x->pack_b) ok &= scratch_get(&s->bb, esz * (size_t)x->kb * (size_t)x->N) != NULL;
  if (!x->direct_out)
    ok &= scratch_get(&s->bc, esz * (size_t)x->M * (size_t)x->N) != NULL;
  /* x_v as float32, then (the vdpbf16ps tiles) as bfloat16 */
  if (x->half_gemv)
    ok &= scratch_get(&s->bv, sizeof(float) * (size_t)x->K * (size_t)HALF_FEW * 3 / 2) !=
          NULL;
  s->pa = s->ba ? s->ba->host : NULL;
  s->pb = s->bb ? s->bb->host : NULL;
  s->pc = s->bc ? s->bc->host : NULL;
  s->pv = s->bv ? s->bv->host : NULL;
  return ok;
}

static void scratch_free(mm_scratch *s) {
  if (s->ba) mx_buffer_release(s->ba);
  if (s->bb) mx_buffer_release(s->bb);
  if (s->bc) mx_buffer_release(s->bc);
  if (s->bv) mx_buffer_release(s->bv);
}

typedef struct {
  const float *src;
  void *dst;
  mx_dtype dt;
} round_job;

static void round_range(void *ctx, int64_t b, int64_t e) {
  const round_job *r = ctx;
  mx_lin_f32_to_half(r->src + b, r->dt == MX_BFLOAT16, (uint16_t *)r->dst + b, e - b);
}

/* ---- half matrix @ a few vectors without converting the matrix ---- */

/* For v = 0..nv-1: y_v (P) += alpha * W (P, K) @ x_v (K), W half with
 * element (p, k) at p * ps + k * ks, x_v = xs + v * K (float32), y_v[p] at
 * y + v * yv + p * yp. Dot form (ks == 1): each W row is read once from
 * memory and dotted with every x_v from cache. */
typedef struct {
  const uint16_t *w;
  int64_t ps, ks;
  int K, nv;
  bool bf16;
  const float *xs;
  const uint16_t *xb; /* the x_v as bfloat16 (exact), or NULL */
  float *y;
  int64_t yv, yp;
  float alpha;
} hgemv_job;

static void hgemv_dot_range(void *ctx, int64_t b, int64_t e) {
  const hgemv_job *j = ctx;
  if (j->nv == 1 && j->bf16 && j->ks == 1) { /* decode: rows in blocks */
    float d[64];
    for (int64_t p0 = b; p0 < e; p0 += 64) {
      int nr = e - p0 < 64 ? (int)(e - p0) : 64;
      mx_lin_dot_bf16_rows(j->w + p0 * j->ps, j->ps, j->xs, j->K, nr, d);
      for (int r = 0; r < nr; r++) j->y[(p0 + r) * j->yp] += j->alpha * d[r];
    }
    return;
  }
  if (j->xb) { /* a few bfloat16 x_v: vdpbf16ps tiles, rows in blocks */
    float d[64 * HALF_FEW];
    for (int64_t p0 = b; p0 < e; p0 += 64) {
      int nr = e - p0 < 64 ? (int)(e - p0) : 64;
      mx_lin_dot_bf16_rows_multi(j->w + p0 * j->ps, j->ps, j->xb, j->K, j->nv, nr, d);
      for (int r = 0; r < nr; r++)
        for (int v = 0; v < j->nv; v++)
          j->y[v * j->yv + (p0 + r) * j->yp] += j->alpha * d[r * j->nv + v];
    }
    return;
  }
  for (int64_t p = b; p < e; p++)
    for (int v0 = 0; v0 < j->nv; v0 += 4) {
      /* up to 4 vectors per pass over the row: it is converted once */
      int nv = j->nv - v0 < 4 ? j->nv - v0 : 4;
      float d[4];
      mx_lin_dot_half_multi(j->w + p * j->ps, j->bf16, j->xs + (int64_t)v0 * j->K, j->K,
                            nv, j->K, d);
      for (int v = 0; v < nv; v++) j->y[(v0 + v) * j->yv + p * j->yp] += j->alpha * d[v];
    }
}

/* Axpy form (ps == 1, yp == 1): a chunk of outputs accumulates every column
 * of W, each column chunk reused for every x_v. */
static void hgemv_axpy_range(void *ctx, int64_t b, int64_t e) {
  const hgemv_job *j = ctx;
  for (int k = 0; k < j->K; k++)
    for (int v = 0; v < j->nv; v++)
      mx_lin_axpy_half(j->alpha * j->xs[(int64_t)v * j->K + k], j->w + k * j->ks + b,
                       j->bf16, j->y + v * j->yv + b, e - b);
}

static void run_batch(const mm_ctx *x, int64_t bi, mm_scratch *s) {
  int M = x->M, N = x->N, K = x->K;
  size_t esz = x->dbl ? 8 : 4;
  int64_t ao, bo, co;
  batch_offsets(x, bi, &ao, &bo, &co);
  size_t osz = mx_dtype_size(x->out->dtype);
  /* C block: the output itself or the float32 accumulator */
  void *C = x->direct_out
                ? (char *)mx_array_ptr(x->out) + bi * (int64_t)M * N * (int64_t)osz
                : s->pc;
  float beta = 0;
  bool gemv_like = M == 1 || N == 1 || K == 0 || x->half_gemv;
  if (x->c && x->beta != 0) {
    mat_view cv = view_of(x->c, co, M, N, x->c_rs, x->c_cs);
    pack(&cv, 0, M, 0, N, false, x->dbl, C);
    beta = x->beta;
    if ((K == 0 || x->half_gemv) && beta != 1) {
      /* no BLAS call to fold beta into: scale here */
      int64_t mn = (int64_t)M * N;
      if (x->dbl)
        for (int64_t i = 0; i < mn; i++) ((double *)C)[i] *= beta;
      else
        for (int64_t i = 0; i < mn; i++) ((float *)C)[i] *= beta;
    }
  } else if (gemv_like) {
    /* gemm with beta 0 overwrites C; gemv and the paths below accumulate
     * (and a reused buffer may hold NaN) */
    memset(C, 0, esz * (size_t)M * (size_t)N);
  }
  size_t isz = mx_dtype_size(x->a->dtype);
  mat_view av = view_of(x->a, ao, M, K, x->a_rs, x->a_cs);
  mat_view bv = view_of(x->b, bo, K, N, x->b_rs, x->b_cs);
  if (x->half_gemv) {
    /* half matrix times a vector: read the matrix as it is */
    hgemv_job j;
    int P;
    if (x->half_gemv == 1) { /* y (M, N) = A (M, K) @ [b_0 .. b_N-1]: W = A */
      pack(&bv, 0, K, 0, N, true, false, s->pv); /* columns of b, each contiguous */
      j = (hgemv_job){.w = (const uint16_t *)av.p,
                      .ps = av.rs,
                      .ks = av.cs,
                      .K = K,
                      .nv = N,
                      .bf16 = av.dt == MX_BFLOAT16,
                      .xs = s->pv,
                      .y = C,
                      .yv = 1,
                      .yp = N,
                      .alpha = x->alpha};
      P = M;
    } else { /* y (M, N) = [a_0 .. a_M-1] @ B (K, N): W = B^T */
      uint16_t *xb = NULL;
      /* two or more bfloat16 rows of x against bfloat16 rows of W: the
       * vdpbf16ps tiles read x's rows as they are (gathered contiguous);
       * otherwise x is widened to float32 */
      if (M >= 2 && av.dt == MX_BFLOAT16 && bv.dt == MX_BFLOAT16 && bv.rs == 1 &&
          mx_lin_bf16_multi_available()) {
        xb = (uint16_t *)((float *)s->pv + (size_t)K * HALF_FEW);
        const uint16_t *xp = (const uint16_t *)av.p;
        for (int m = 0; m < M; m++)
          for (int k = 0; k < K; k++) xb[(int64_t)m * K + k] = xp[m * av.rs + k * av.cs];
      } else {
        pack(&av, 0, M, 0, K, false, false, s->pv);
      }
      j = (hgemv_job){.w = (const uint16_t *)bv.p,
                      .xb = xb,
                      .ps = bv.cs,
                      .ks = bv.rs,
                      .K = K,
                      .nv = M,
                      .bf16 = bv.dt == MX_BFLOAT16,
                      .xs = s->pv,
                      .y = C,
                      .yv = N,
                      .yp = 1,
                      .alpha = x->alpha};
      P = N;
    }
    if (j.ks == 1 || K == 1) {
      int64_t grain = 32768 / ((int64_t)K * j.nv);
      mx_parallel_for(P, grain < 1 ? 1 : grain, hgemv_dot_range, &j);
    } else {
      int64_t grain = 32768 / ((int64_t)K * j.nv);
      mx_parallel_for(P, grain < 256 ? 256 : grain, hgemv_axpy_range, &j);
    }
  }
  bool ta = false, tb = false;
  int lda = 0, ldb = 0;
  if (!x->pack_a) blas_layout(M, K, av.rs, av.cs, &ta, &lda);
  if (!x->pack_b) blas_layout(K, N, bv.rs, bv.cs, &tb, &ldb);
  bool pta = pack_trans(&av), ptb = pack_trans(&bv);
  for (int k0 = 0; k0 < K && !x->half_gemv; k0 += x->kb) {
    int kn = K - k0 < x->kb ? K - k0 : x->kb;
    const void *A, *B;
    if (x->pack_a) {
      pack(&av, 0, M, k0, kn, pta, x->dbl, s->pa);
      A = s->pa;
      ta = pta;
      lda = pta ? M : kn;
    } else {
      A = av.p + (int64_t)k0 * av.cs * (int64_t)isz;
    }
    if (x->pack_b) {
      pack(&bv, k0, kn, 0, N, ptb, x->dbl, s->pb);
      B = s->pb;
      tb = ptb;
      ldb = ptb ? kn : N;
    } else {
      B = bv.p + (int64_t)k0 * bv.rs * (int64_t)isz;
    }
    mx_blas_gemm(x->dbl, ta, tb, M, N, kn, x->alpha, A, lda, B, ldb, beta, C, N);
    beta = 1;
  }
  if (!x->direct_out) {
    round_job r = {s->pc,
                   (char *)mx_array_ptr(x->out) + bi * (int64_t)M * N * (int64_t)osz,
                   x->out->dtype};
    mx_parallel_for((int64_t)M * N, 1 << 16, round_range, &r);
  }
}

/* ---- bfloat16 @ bfloat16: the vdpbf16ps GEMM ---- */

/* gemm_bf16.c computes O = W @ X^T with W's rows read along K in place:
 * W is the operand whose K axis has unit stride (the larger one when both
 * do, as in x @ w.T), X gets packed. Neither: W is copied panel by panel. */
static void run_batch_bf16(mm_ctx *x, int64_t bi) {
  int M = x->M, N = x->N, K = x->K;
  int64_t ao, bo, co;
  batch_offsets(x, bi, &ao, &bo, &co);
  const uint16_t *A = (const uint16_t *)mx_array_ptr(x->a) + ao,
                 *B = (const uint16_t *)mx_array_ptr(x->b) + bo;
  uint16_t *O = (uint16_t *)mx_array_ptr(x->out) + bi * (int64_t)M * N;
  bool a_k = x->a_cs == 1 || K == 1, b_k = x->b_rs == 1 || K == 1;
  bool w_is_b = b_k ? (!a_k || N >= M) : (!a_k && N >= M);
  mx_gemm_bf16_args g;
  if (w_is_b) /* out^T (N, M) = b^T (N, K) @ a (M, K)^T */
    g = (mx_gemm_bf16_args){.P = N,
                            .Q = M,
                            .K = K,
                            .w = B,
                            .w_rs = x->b_cs,
                            .w_ks = x->b_rs,
                            .x = A,
                            .x_rs = x->a_rs,
                            .x_cs = x->a_cs,
                            .o = O,
                            .o_is = 1,
                            .o_js = N};
  else /* out (M, N) = a (M, K) @ b^T (N, K)^T */
    g = (mx_gemm_bf16_args){.P = M,
                            .Q = N,
                            .K = K,
                            .w = A,
                            .w_rs = x->a_rs,
                            .w_ks = x->a_cs,
                            .x = B,
                            .x_rs = x->b_cs,
                            .x_cs = x->b_rs,
                            .o = O,
                            .o_is = N,
                            .o_js = 1};
  g.odt = MX_BFLOAT16;
  g.alpha = x->alpha;
  if (mx_gemm_bf16(&g) != MX_OK) atomic_store(&x->failed, 1);
}

static void batch_range(void *ctx, int64_t b, int64_t e) {
  mm_ctx *x = ctx;
  if (x->bf16_gemm) {
    for (int64_t i = b; i < e; i++) run_batch_bf16(x, i);
    return;
  }
  mm_scratch s;
  if (!scratch_alloc(x, &s)) {
    scratch_free(&s);
    atomic_store(&x->failed, 1);
    return;
  }
  for (int64_t i = b; i < e; i++) run_batch(x, i, &s);
  scratch_free(&s);
}

/* ---- integer and bool: plain loops ---- */

#define INT_MM_CASE(ENUM, CT, SFX)                                          \
  case ENUM: {                                                              \
    const CT *A = (const CT *)mx_array_ptr(x->a) + ao;                      \
    const CT *B = (const CT *)mx_array_ptr(x->b) + bo;                      \
    CT *O = (CT *)mx_array_ptr(x->out) + bi * (int64_t)M * N;               \
    for (int i = 0; i < M; i++)                                             \
      for (int j = 0; j < N; j++) {                                         \
        uint64_t acc = 0;                                                   \
        for (int k = 0; k < K; k++)                                         \
          acc += (uint64_t)A[i * x->a_rs + k * x->a_cs] *                   \
                 (uint64_t)B[k * x->b_rs + j * x->b_cs];                    \
        O[(int64_t)i * N + j] = ENUM == MX_BOOL ? (CT)(acc != 0) : (CT)acc; \
      }                                                                     \
    break;                                                                  \
  }

#define MX_FOR_EACH_INT_DTYPE(X) \
  X(MX_BOOL, uint8_t, bool_)     \
  X(MX_UINT8, uint8_t, u8)       \
  X(MX_UINT16, uint16_t, u16)    \
  X(MX_UINT32, uint32_t, u32)    \
  X(MX_UINT64, uint64_t, u64)    \
  X(MX_INT8, int8_t, i8)         \
  X(MX_INT16, int16_t, i16)      \
  X(MX_INT32, int32_t, i32)      \
  X(MX_INT64, int64_t, i64)

static void int_range(void *ctx, int64_t b, int64_t e) {
  mm_ctx *x = ctx;
  int M = x->M, N = x->N, K = x->K;
  for (int64_t bi = b; bi < e; bi++) {
    int64_t ao, bo, co;
    batch_offsets(x, bi, &ao, &bo, &co);
    /* signed products go through uint64 so overflow wraps instead of being
     * undefined; the low bits are the same */
    switch (x->out->dtype) {
      MX_FOR_EACH_INT_DTYPE(INT_MM_CASE)
      default:
        break;
    }
  }
}

/* ---- batch folding ---- */

/* Do dims (bshape..., rows) with strides (bst..., rs) merge into one strided
 * dim? Size-1 dims are skipped. Writes the merged stride. */
static bool merge_rows(const int *bshape, const int64_t *bst, int nbd, int rows,
                       int64_t rs, int64_t *stride) {
  bool have = false;
  int64_t expect = 0;
  *stride = rs;
  for (int d = nbd; d >= 0; d--) {
    int size = d == nbd ? rows : bshape[d];
    int64_t st = d == nbd ? rs : bst[d];
    if (size == 1) continue;
    if (!have) {
      *stride = st;
      expect = st * size;
      have = true;
    } else {
      if (st != expect) return false;
      expect *= size;
    }
  }
  return true;
}

/* If every batch shares b and a's (and c's) batch dims fold into its rows,
 * the batch is one product with M' = batch * M. */
static void fold_batch(mm_ctx *x) {
  if (x->nbd == 0 || x->nbatch <= 1) return;
  if ((int64_t)x->M * x->nbatch > INT_MAX) return;
  for (int d = 0; d < x->nbd; d++)
    if (x->bshape[d] != 1 && x->bbst[d] != 0) return;
  int64_t ars, crs = x->c_rs;
  if (!merge_rows(x->bshape, x->abst, x->nbd, x->M, x->a_rs, &ars)) return;
  if (x->c && x->beta != 0 &&
      !merge_rows(x->bshape, x->cbst, x->nbd, x->M, x->c_rs, &crs))
    return;
  x->M = (int)(x->M * x->nbatch);
  x->a_rs = ars;
  x->c_rs = crs;
  x->nbd = 0;
  x->nbatch = 1;
}

mx_status mx_cpu_matmul(mx_node *n, mx_array **in, mx_array **out) {
  const mx_matmul_params *p = MX_PARAMS(mx_matmul_params, n);
  mx_array *a = in[0], *b = in[1], *c = n->nin > 2 ? in[2] : NULL, *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;

  mm_ctx *x = calloc(1, sizeof *x);
  if (!x) return mx_set_error(MX_ERR_NOMEM, "[matmul] out of memory");
  x->a = a;
  x->b = b;
  x->c = c;
  x->out = o;
  x->alpha = p->alpha;
  x->beta = c ? p->beta : 0;
  x->M = a->shape[a->ndim - 2];
  x->K = a->shape[a->ndim - 1];
  x->N = b->shape[b->ndim - 1];
  x->a_rs = a->strides[a->ndim - 2];
  x->a_cs = a->strides[a->ndim - 1];
  x->b_rs = b->strides[b->ndim - 2];
  x->b_cs = b->strides[b->ndim - 1];
  if (c) {
    x->c_rs = c->strides[c->ndim - 2];
    x->c_cs = c->strides[c->ndim - 1];
  }
  x->nbd = o->ndim - 2;
  x->nbatch = 1;
  for (int d = 0; d < x->nbd; d++) {
    x->bshape[d] = o->shape[d];
    x->nbatch *= o->shape[d];
  }
  /* batch strides of a and b broadcast to out's batch shape */
  for (int d = 0; d < x->nbd; d++) {
    int da = d - (x->nbd - (a->ndim - 2)), db = d - (x->nbd - (b->ndim - 2));
    x->abst[d] = da < 0 || a->shape[da] == 1 ? 0 : a->strides[da];
    x->bbst[d] = db < 0 || b->shape[db] == 1 ? 0 : b->strides[db];
    x->cbst[d] = c ? (c->shape[d] == 1 ? 0 : c->strides[d]) : 0;
  }
  atomic_init(&x->failed, 0);

  mx_dtype dt = o->dtype;
  if (!mx_dtype_is_floating(dt)) {
    mx_parallel_for(x->nbatch, 1, int_range, x);
    free(x);
    return MX_OK;
  }

  x->dbl = dt == MX_FLOAT64;
  x->direct_out = dt == MX_FLOAT32 || dt == MX_FLOAT64;
  mx_dtype compute = x->dbl ? MX_FLOAT64 : MX_FLOAT32;

  /* one GEMM over all batches when b is shared */
  if (x->K > 0) fold_batch(x);

  /* half matrix @ vector: dot products over the matrix's unit-stride axis
   * (or axpy over its other axis) instead of converting it to float32 */
  if (!x->direct_out && x->K > 0) {
    bool a_dot = x->a_cs == 1 || x->K == 1, b_dot = x->b_rs == 1 || x->K == 1;
    if (x->N == 1 && (a_dot || (x->a_rs == 1 && x->M > 1)))
      x->half_gemv = 1;
    else if (x->M <= HALF_FEW && (b_dot || (x->b_cs == 1 && x->N > 1)))
      x->half_gemv = 2;
    else if (x->N <= HALF_FEW && a_dot) /* the axpy form needs contiguous outputs */
      x->half_gemv = 1;
  }
  /* bfloat16 products (addmm only without c's term): gemm_bf16.c */
  x->bf16_gemm = dt == MX_BFLOAT16 && a->dtype == MX_BFLOAT16 &&
                 b->dtype == MX_BFLOAT16 && !x->half_gemv && x->K > 0 &&
                 (!c || x->beta == 0) && mx_gemm_bf16_available();
  bool t;
  int ld;
  x->pack_a =
      x->K > 0 && !x->half_gemv && !x->bf16_gemm &&
      (a->dtype != compute || !blas_layout(x->M, x->K, x->a_rs, x->a_cs, &t, &ld));
  x->pack_b =
      x->K > 0 && !x->half_gemv && !x->bf16_gemm &&
      (b->dtype != compute || !blas_layout(x->K, x->N, x->b_rs, x->b_cs, &t, &ld));
  x->kb = x->K > 0 ? x->K : 1;
  int64_t packed_rows = (x->pack_a ? x->M : 0) + (x->pack_b ? x->N : 0);
  if (packed_rows > 0 && packed_rows * x->K > MM_PACK_LIMIT) {
    int64_t kb = MM_PACK_LIMIT / packed_rows;
    kb = kb < 256 ? 256 : kb & ~(int64_t)63;
    if (kb < x->K) x->kb = (int)kb;
  }

  int64_t work = (int64_t)x->M * x->N * (x->K ? x->K : 1);
  /* gemv-shaped BLAS calls go multi-threaded much earlier than gemm; the
   * half matvec kernel is ours and may always run on the pool */
  bool blas_gemv = !x->half_gemv && (x->M == 1 || x->N == 1);
  int64_t small = blas_gemv ? MM_SMALL_GEMV : MM_SMALL_WORK;
  if (x->nbatch > 1 && (work <= small || (x->half_gemv && work <= MM_SMALL_WORK))) {
    int64_t grain = MM_SMALL_WORK / (work ? work : 1);
    mx_parallel_for(x->nbatch, grain < 1 ? 1 : grain, batch_range, x);
  } else {
    batch_range(x, 0, x->nbatch);
  }
  bool failed = atomic_load(&x->failed);
  free(x);
  if (failed) return mx_set_error(MX_ERR_NOMEM, "[matmul] out of memory for scratch");
  return MX_OK;
}
