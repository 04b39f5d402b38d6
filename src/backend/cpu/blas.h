/* blas.h: the CPU backend's float32/float64 products through OpenBLAS,
 * spread over mx's worker pool when OpenBLAS runs single-threaded. */
#ifndef MX_CPU_BLAS_H
#define MX_CPU_BLAS_H

#include <stdbool.h>

/* C (M, N, row-major, ldc) = alpha * op(A) @ op(B) + beta * C, float64 when
 * dbl. A is (M, K) row-major with leading dimension lda, or its transpose
 * (K, M) when ta; B likewise (K, N), or (N, K) when tb. M == 1 or N == 1
 * run as gemv. When OpenBLAS has one thread (mx_blas_on_pool), a product
 * large enough is cut into one block of rows or columns per pool thread,
 * each a BLAS call on its own thread. When OpenBLAS runs its own threads,
 * the product is one call. */
void mx_blas_gemm(bool dbl, bool ta, bool tb, int M, int N, int K, float alpha,
                  const void *A, int lda, const void *B, int ldb, float beta, void *C,
                  int ldc);

/* Whether OpenBLAS runs on the calling thread only (then mx_blas_gemm
 * splits products over the pool). */
bool mx_blas_single_threaded(void);

#endif
