/* blas.c: float32/float64 GEMM and GEMV through OpenBLAS, one worker pool.
 *
 * OpenBLAS's threaded builds start their own threads when the library is
 * loaded, and each of them polls (sched_yield) for about 2^28 cycles after
 * start-up and after every threaded call before it sleeps. On a 2-core
 * machine that poll takes a core from mx's own pool: the first 128-token
 * prompt of an `mx generate` run (0.4B q4, which makes no BLAS call at all)
 * ran at 640-660 tok/s against 800-820 with OPENBLAS_NUM_THREADS=1. So
 * mx_blas_on_pool (called by the mx binary at start) sets OpenBLAS to one
 * thread and stops the threads it started, and this file spreads large
 * products over mx's pool instead: one block of rows (or columns) of C per
 * pool thread, each block a single-threaded BLAS call. Where OpenBLAS keeps
 * its threads (a program that does not call mx_blas_on_pool, or a user's
 * OPENBLAS_NUM_THREADS) each product is one call and OpenBLAS threads it. */
#include "blas.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../core/core.h"

/* OpenBLAS's thread controls (not in cblas.h of every BLAS); the shutdown
 * is what OpenBLAS's own fork handler calls, weak in case a build lacks it */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int n);
int blas_thread_shutdown_(void) __attribute__((weak));

/* multiply-adds below which a product stays one call on this thread: OpenBLAS
 * itself threads a GEMM from about 64^3 and a GEMV from a few 10^4 */
#define SPLIT_GEMM_WORK ((int64_t)1 << 18)
#define SPLIT_GEMV_WORK ((int64_t)1 << 16)

bool mx_blas_single_threaded(void) { return openblas_get_num_threads() <= 1; }

bool mx_blas_on_pool(void) {
  if (getenv("OPENBLAS_NUM_THREADS")) return mx_blas_single_threaded();
  openblas_set_num_threads(1);
  /* the threads started at load: with one thread set, no call restarts them */
  if (blas_thread_shutdown_) blas_thread_shutdown_();
  return mx_blas_single_threaded();
}

static void gemm1(bool dbl, bool ta, bool tb, int M, int N, int K, float alpha,
                  const void *A, int lda, const void *B, int ldb, float beta, void *C,
                  int ldc) {
  if (N == 1) {
    /* y (M) = op(A) x, x = column of B (K) */
    int incx = tb ? 1 : ldb;
    if (dbl)
      cblas_dgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, ta ? K : M, ta ? M : K,
                  alpha, A, lda, B, incx, beta, C, ldc);
    else
      cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, ta ? K : M, ta ? M : K,
                  alpha, A, lda, B, incx, beta, C, ldc);
    return;
  }
  if (M == 1) {
    /* y (N) = op(B)^T x, x = row of A (K) */
    int incx = ta ? lda : 1;
    if (dbl)
      cblas_dgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? N : K, tb ? K : N,
                  alpha, B, ldb, A, incx, beta, C, 1);
    else
      cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? N : K, tb ? K : N,
                  alpha, B, ldb, A, incx, beta, C, 1);
    return;
  }
  if (dbl)
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
  else
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

typedef struct {
  bool dbl, ta, tb, rows; /* rows: blocks of C's rows, else of its columns */
  int M, N, K, lda, ldb, ldc, unit;
  float alpha, beta;
  const char *A, *B;
  char *C;
} split_job;

/* blocks [b, e) of `unit` rows or columns each */
static void split_range(void *ctx, int64_t b, int64_t e) {
  const split_job *j = ctx;
  const int64_t esz = j->dbl ? 8 : 4, ext = j->rows ? j->M : j->N;
  int64_t i0 = b * j->unit, i1 = e * j->unit < ext ? e * j->unit : ext;
  int n = (int)(i1 - i0);
  if (n <= 0) return;
  if (j->rows) { /* C[i0:i1, :] = op(A)[i0:i1, :] @ op(B) */
    const char *A = j->A + (j->ta ? i0 : i0 * j->lda) * esz;
    gemm1(j->dbl, j->ta, j->tb, n, j->N, j->K, j->alpha, A, j->lda, j->B, j->ldb, j->beta,
          j->C + i0 * j->ldc * esz, j->ldc);
  } else { /* C[:, i0:i1] = op(A) @ op(B)[:, i0:i1] */
    const char *B = j->B + (j->tb ? i0 * j->ldb : i0) * esz;
    gemm1(j->dbl, j->ta, j->tb, j->M, n, j->K, j->alpha, j->A, j->lda, B, j->ldb, j->beta,
          j->C + i0 * esz, j->ldc);
  }
}

void mx_blas_gemm(bool dbl, bool ta, bool tb, int M, int N, int K, float alpha,
                  const void *A, int lda, const void *B, int ldb, float beta, void *C,
                  int ldc) {
  const int threads = mx_num_threads();
  const bool gemv = M == 1 || N == 1;
  const int64_t work = (int64_t)M * N * K;
  if (threads <= 1 || work < (gemv ? SPLIT_GEMV_WORK : SPLIT_GEMM_WORK) ||
      !mx_blas_single_threaded()) {
    gemm1(dbl, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  /* the longer side of C in one block per thread, blocks a multiple of 16
   * (whole cache lines of C when its columns are cut) */
  split_job j = {.dbl = dbl,
                 .ta = ta,
                 .tb = tb,
                 .rows = M >= N,
                 .M = M,
                 .N = N,
                 .K = K,
                 .lda = lda,
                 .ldb = ldb,
                 .ldc = ldc,
                 .alpha = alpha,
                 .beta = beta,
                 .A = A,
                 .B = B,
                 .C = C};
  const int ext = j.rows ? M : N;
  int unit = (ext + threads - 1) / threads;
  unit = (unit + 15) / 16 * 16;
  j.unit = unit;
  mx_parallel_for((ext + unit - 1) / unit, 1, split_range, &j);
}
