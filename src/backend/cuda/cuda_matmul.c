/* cuda_matmul.c: eval_cuda of matmul: a (..., M, K) @ b (..., K, N) with
 * numpy batch broadcasting, through cuBLASLt (gemm.cu). Transposed operands
 * and broadcast or contiguous batches are passed as strides; any other
 * layout is first copied contiguous on the device. */
#include <string.h>

#include "../../primitives/linalg.h"
#include "cuda_backend.h"

typedef struct {
  const void *ptr;
  int64_t rs, cs, bs;
  mx_buffer *tmp;
} operand;

/* Strides of x's batch dims broadcast to out's batch shape (nb dims). */
static void batch_strides(const mx_array *x, const int *bshape, int nb, int64_t *st) {
  int xb = x->ndim - 2;
  for (int d = 0; d < nb; d++) {
    int xd = d - (nb - xb);
    st[d] = (xd < 0 || x->shape[xd] == 1) ? 0 : x->strides[xd];
  }
  (void)bshape;
}

static bool collapse(const int *bshape, const int64_t *st, int nb, int64_t *bs) {
  /* offset(b) must equal b * bs for the flattened batch index b */
  int64_t s = -1;
  int64_t expect = 0;
  for (int d = nb - 1; d >= 0; d--) {
    if (bshape[d] == 1) continue;
    if (s < 0) {
      s = st[d];
      expect = st[d] * bshape[d];
      continue;
    }
    if (st[d] != expect) return false;
    expect *= bshape[d];
  }
  *bs = s < 0 ? 0 : s;
  return true;
}

static mx_status prepare(mx_array *x, const int *bshape, int nb, int rows, int cols,
                         operand *o) {
  memset(o, 0, sizeof *o);
  int64_t st[MX_MAX_NDIM];
  batch_strides(x, bshape, nb, st);
  int64_t rs = x->strides[x->ndim - 2], cs = x->strides[x->ndim - 1], bs = 0;
  if (rows == 1) rs = cols;
  if (cols == 1) cs = 1;
  bool mat_ok = (cs == 1 && rs >= cols) || (rs == 1 && cs >= rows);
  if (mat_ok && collapse(bshape, st, nb, &bs)) {
    o->ptr = mx_cuda_ptr(x);
    o->rs = rs;
    o->cs = cs;
    o->bs = bs;
    return MX_OK;
  }
  /* materialise x broadcast to bshape + (rows, cols), row-major */
  mx_cuda_layout lay;
  memset(&lay, 0, sizeof lay);
  lay.ndim = nb + 2;
  for (int d = 0; d < nb; d++) {
    lay.shape[d] = bshape[d];
    lay.strides[d] = st[d];
  }
  lay.shape[nb] = rows;
  lay.shape[nb + 1] = cols;
  lay.strides[nb] = x->strides[x->ndim - 2];
  lay.strides[nb + 1] = x->strides[x->ndim - 1];
  int64_t n = mx_shape_size(bshape, nb) * rows * cols;
  mx_status rc = mx_cuda_gather_copy(mx_cuda_ptr(x), x->dtype, lay, n, &o->tmp);
  if (rc != MX_OK) return rc;
  o->ptr = o->tmp->dev;
  o->rs = cols;
  o->cs = 1;
  o->bs = (int64_t)rows * cols;
  return MX_OK;
}

mx_status mx_cuda_matmul(mx_node *n, mx_array **in, mx_array **out) {
  mx_status rc = mx_cuda_inputs(n, in);
  if (rc != MX_OK) return rc;
  mx_array *a = in[0], *b = in[1], *o = out[0];
  if (o->dtype != MX_FLOAT32 && o->dtype != MX_BFLOAT16 && o->dtype != MX_FLOAT16)
    return mx_set_error(MX_ERR_UNSUPPORTED, "[matmul] no CUDA kernel for matmul of %s",
                        mx_dtype_name(o->dtype));
  rc = mx_cuda_array_alloc(o);
  if (rc != MX_OK) return rc;
  int M = o->shape[o->ndim - 2], N = o->shape[o->ndim - 1], K = a->shape[a->ndim - 1];
  int nb = o->ndim - 2;
  int64_t batch = mx_shape_size(o->shape, nb);
  char err[MX_CUDA_ERR_LEN];
  if (o->size == 0) return MX_OK;
  if (K == 0)
    return mx_cuda_check(
        mx_cuda_launch_fill(o->buf->dev, o->dtype, 0, 0, 1, o->size, err), "matmul", err);
  operand pa, pb;
  rc = prepare(a, o->shape, nb, M, K, &pa);
  if (rc != MX_OK) return rc;
  rc = prepare(b, o->shape, nb, K, N, &pb);
  if (rc != MX_OK) {
    if (pa.tmp) mx_buffer_release(pa.tmp);
    return rc;
  }
  int lrc = mx_cuda_launch_gemm(o->dtype, (int)batch, M, N, K, pa.ptr, pa.rs, pa.cs,
                                pa.bs, pb.ptr, pb.rs, pb.cs, pb.bs, o->buf->dev, err);
  if (pa.tmp) mx_buffer_release(pa.tmp);
  if (pb.tmp) mx_buffer_release(pb.tmp);
  return mx_cuda_check(lrc, "matmul", err);
}
