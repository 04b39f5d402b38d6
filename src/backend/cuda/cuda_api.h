/* cuda_api.h: the C interface between the C side of the CUDA backend
 * (cuda_backend.c, which sees mx arrays) and the CUDA C++ side (*.cu, which
 * sees only plain pointers and layouts). Kept free of C11 atomics so both
 * compilers accept it. Every function returns 0 on success or writes a
 * message into err (size MX_CUDA_ERR_LEN) and returns non-zero. */
#ifndef MX_CUDA_API_H
#define MX_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MX_CUDA_ERR_LEN 256
#define MX_CUDA_MAX_NDIM 16

/* dtype codes are mx_dtype values */
typedef struct {
  int ndim;
  int shape[MX_CUDA_MAX_NDIM];
  int64_t strides[MX_CUDA_MAX_NDIM]; /* elements */
} mx_cuda_layout;

int mx_cudart_device_count(void);
int mx_cudart_init(char *err);
void *mx_cudart_malloc(size_t n);
void mx_cudart_free(void *p);
size_t mx_cudart_total_memory(void);
int mx_cudart_h2d(void *dst, const void *src, size_t n, char *err);
int mx_cudart_d2h(void *dst, const void *src, size_t n, char *err);
int mx_cudart_sync(char *err);

/* dst (contiguous, dtype dt, n elements) = convert(src viewed with layout,
 * dtype st). */
int mx_cuda_launch_copy(const void *src, int st, mx_cuda_layout lay, void *dst, int dt,
                        int64_t n, char *err);
/* dst (n elements) = value in dtype dt */
int mx_cuda_launch_fill(void *dst, int dt, double value, int64_t ivalue, int is_int,
                        int64_t n, char *err);
/* out = a op b, broadcast through layouts (both already in out's shape),
 * same dtype. op: 0 add, 1 multiply, 2 subtract. Returns 2 if the dtype has
 * no kernel. */
int mx_cuda_launch_binary(int op, const void *a, mx_cuda_layout la, const void *b,
                          mx_cuda_layout lb, void *out, int dtype, int64_t n, char *err);
/* Row-major batched GEMM through cuBLASLt: C[b] = A[b] @ B[b] with
 * A (M, K) element (i, k) at a + i*a_rs + k*a_cs (one of a_rs, a_cs is 1),
 * same for B (K, N); C contiguous (M, N). Batch strides may be 0
 * (broadcast). dtype float32 or bfloat16 (float32 accumulation); float16
 * also accepted. Returns 2 for other dtypes. */
int mx_cuda_launch_gemm(int dtype, int batch, int M, int N, int K, const void *a,
                        int64_t a_rs, int64_t a_cs, int64_t a_bs, const void *b,
                        int64_t b_rs, int64_t b_cs, int64_t b_bs, void *c, char *err);

#ifdef __cplusplus
}
#endif
#endif
