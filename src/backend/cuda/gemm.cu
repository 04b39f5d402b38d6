// gemm.cu: row-major batched GEMM through cuBLASLt. Row-major C = A @ B is
// computed as column-major C^T = B^T A^T, so transposed views are passed as
// transpose flags instead of being copied.
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <stdio.h>

#include "cuda_api.h"

extern cudaStream_t mx_cuda_stream;

static cublasLtHandle_t g_lt = nullptr;
static void *g_workspace = nullptr;
static const size_t kWorkspace = 32u << 20;

#define LT_CHECK(call)                                                               \
  do {                                                                               \
    cublasStatus_t s_ = (call);                                                      \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                               \
      snprintf(err, MX_CUDA_ERR_LEN, "%s failed: cublas status %d", #call, (int)s_); \
      rc = 1;                                                                        \
      goto done;                                                                     \
    }                                                                                \
  } while (0)

// operand as a column-major matrix: rows x cols with leading dim ld and op
struct colmajor {
  int rows, cols;
  int64_t ld;
  cublasOperation_t op;
};

// Row-major matrix R (r x c) with element (i, j) at i*rs + j*cs, needed as
// R^T (c x r) in column-major terms.
static colmajor as_transposed(int r, int c, int64_t rs, int64_t cs) {
  colmajor m;
  if (cs == 1 || c == 1) {  // row-major: R^T is col-major c x r, ld = rs
    m.rows = c;
    m.cols = r;
    m.ld = rs > c ? rs : c;
    m.op = CUBLAS_OP_N;
  } else {  // rs == 1: R is col-major r x c with ld = cs; R^T = op T
    m.rows = r;
    m.cols = c;
    m.ld = cs > r ? cs : r;
    m.op = CUBLAS_OP_T;
  }
  if (m.ld < 1) m.ld = 1;
  return m;
}

extern "C" int mx_cuda_launch_gemm(int dtype, int batch, int M, int N, int K,
                                   const void *a, int64_t a_rs, int64_t a_cs,
                                   int64_t a_bs, const void *b, int64_t b_rs,
                                   int64_t b_cs, int64_t b_bs, void *c, char *err) {
  cudaDataType_t t;
  if (dtype == 11)
    t = CUDA_R_32F;
  else if (dtype == 10)
    t = CUDA_R_16BF;
  else if (dtype == 9)
    t = CUDA_R_16F;
  else
    return 2;
  int rc = 0;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  cublasLtMatmulHeuristicResult_t heur;
  int found = 0;
  float alpha = 1.0f, beta = 0.0f;
  // cublas A := B (needed as B^T, N x K); cublas B := A (needed as A^T, K x M)
  colmajor mb = as_transposed(K, N, b_rs, b_cs);
  colmajor ma = as_transposed(M, K, a_rs, a_cs);
  int64_t ldc = N;
  if (!g_lt) {
    cublasStatus_t s = cublasLtCreate(&g_lt);
    if (s != CUBLAS_STATUS_SUCCESS) {
      snprintf(err, MX_CUDA_ERR_LEN, "cublasLtCreate failed: %d", (int)s);
      return 1;
    }
    cudaError_t e = cudaMalloc(&g_workspace, kWorkspace);
    if (e != cudaSuccess) {
      snprintf(err, MX_CUDA_ERR_LEN, "workspace: %s", cudaGetErrorString(e));
      g_workspace = nullptr;
      return 1;
    }
  }
  LT_CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  LT_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &mb.op,
                                          sizeof mb.op));
  LT_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &ma.op,
                                          sizeof ma.op));
  LT_CHECK(cublasLtMatrixLayoutCreate(&la, t, mb.rows, mb.cols, mb.ld));
  LT_CHECK(cublasLtMatrixLayoutCreate(&lb, t, ma.rows, ma.cols, ma.ld));
  LT_CHECK(cublasLtMatrixLayoutCreate(&lc, t, N, M, ldc));
  if (batch > 1) {
    int64_t sc = (int64_t)M * N;
    LT_CHECK(cublasLtMatrixLayoutSetAttribute(la, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                              &batch, sizeof batch));
    LT_CHECK(cublasLtMatrixLayoutSetAttribute(
        la, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &b_bs, sizeof b_bs));
    LT_CHECK(cublasLtMatrixLayoutSetAttribute(lb, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                              &batch, sizeof batch));
    LT_CHECK(cublasLtMatrixLayoutSetAttribute(
        lb, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &a_bs, sizeof a_bs));
    LT_CHECK(cublasLtMatrixLayoutSetAttribute(lc, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                              &batch, sizeof batch));
    LT_CHECK(cublasLtMatrixLayoutSetAttribute(
        lc, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sc, sizeof sc));
  }
  LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  {
    size_t ws = kWorkspace;
    LT_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  }
  LT_CHECK(
      cublasLtMatmulAlgoGetHeuristic(g_lt, desc, la, lb, lc, lc, pref, 1, &heur, &found));
  if (found == 0) {
    snprintf(err, MX_CUDA_ERR_LEN, "cuBLASLt found no algorithm for %dx%dx%d", M, N, K);
    rc = 1;
    goto done;
  }
  LT_CHECK(cublasLtMatmul(g_lt, desc, &alpha, b, la, a, lb, &beta, c, lc, c, lc,
                          &heur.algo, g_workspace, kWorkspace, mx_cuda_stream));
done:
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  if (la) cublasLtMatrixLayoutDestroy(la);
  if (lb) cublasLtMatrixLayoutDestroy(lb);
  if (lc) cublasLtMatrixLayoutDestroy(lc);
  if (desc) cublasLtMatmulDescDestroy(desc);
  return rc;
}
